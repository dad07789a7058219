/* Model loading by file kind (.onnx, .json, .kir) and --shape arguments. */
#include "frontend.h"
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool has_ext(const char *path, const char *ext)
{
	size_t n = strlen(path), k = strlen(ext);
	return n > k && strcasecmp(path + n - k, ext) == 0;
}

static Graph *load_kir(const char *path, Diag *d)
{
	size_t len;
	char *text = src_read_file(path, &len);
	if (!text) {
		diag_error(d, path, NULL, NULL, "cannot read the IR file: %s", strerror(errno));
		return NULL;
	}
	Graph *g = ir_parse(text, len, path, d);
	free(text);
	if (g && !ir_verify(g, d)) {
		ir_graph_free(g);
		g = NULL;
	}
	return g;
}

/* First non-blank byte of the file, or -1. */
static int first_byte(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	int ch;
	while ((ch = fgetc(f)) == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
		;
	fclose(f);
	return ch == EOF ? -1 : ch;
}

Graph *frontend_load(const char *path, const ImportOptions *o, Diag *d)
{
	if (has_ext(path, ".kir")) {
		/* A .kir graph is already static and typed. */
		if (o && (o->nshapes || o->nconsts)) {
			diag_error(d, path, NULL, NULL, "--shape and --const apply to ONNX and JSON models, not .kir files");
			return NULL;
		}
		return load_kir(path, d);
	}
	if (has_ext(path, ".json"))
		return json_import(path, o, d);
	if (!has_ext(path, ".onnx") && first_byte(path) == '{')
		return json_import(path, o, d);
	return onnx_import(path, o, d);
}

bool frontend_parse_shape_arg(char *arg, ShapeBinding *b)
{
	char *eq = strrchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		return false;
	*eq = 0;
	memset(b, 0, sizeof *b);
	b->name = arg;
	char *p = eq + 1;
	for (;;) {
		if (b->rank == IR_MAX_RANK || *p < '0' || *p > '9')
			return false;
		errno = 0;
		char *end;
		long long v = strtoll(p, &end, 10);
		if (errno || v < 0)
			return false;
		b->dims[b->rank++] = v;
		if (!*end)
			return true;
		if (*end != ',')
			return false;
		p = end + 1;
	}
}
