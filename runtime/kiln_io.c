/* Host tensor I/O: ONNX TensorProto (.pb) and NumPy (.npy) files, decoded
 * by hand so the runtime needs no protobuf library.  Every length is
 * checked: hostile files give an error, never a crash. */
#include "kiln_io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

size_t kiln_tensor_numel(const kiln_tensor *t)
{
	size_t n = 1;
	for (int i = 0; i < t->rank; i++)
		n *= (size_t)t->shape[i];
	return n;
}

void kiln_tensor_free(kiln_tensor *t)
{
	free(t->data);
	t->data = NULL;
	t->bytes = 0;
}

/* ---- protobuf wire format -------------------------------------------- */

typedef struct Rd {
	const uint8_t *p, *end;
} Rd;

static int rd_varint(Rd *r, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -1;
		uint8_t b = *r->p++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* Elements of a repeated scalar field, packed or not, appended to a
 * growable array of 8-byte slots (values widened). */
typedef struct Rep {
	uint64_t *v;
	size_t n, cap;
} Rep;

static int rep_push(Rep *r, uint64_t x)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		uint64_t *nv = realloc(r->v, nc * sizeof *nv);
		if (!nv)
			return -1;
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = x;
	return 0;
}

/* wire: 0 varint, 1 fixed64, 5 fixed32; for packed, each element likewise. */
static int rd_scalar(Rd *r, int wire, uint64_t *x)
{
	if (wire == 0)
		return rd_varint(r, x);
	int n = wire == 1 ? 8 : 4;
	if (r->end - r->p < n)
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	*x = v;
	return 0;
}

static int rd_repeated(Rd *r, int wire, int elem_wire, Rep *out)
{
	uint64_t x;
	if (wire == 2) {
		uint64_t len;
		if (rd_varint(r, &len) || len > (uint64_t)(r->end - r->p))
			return -1;
		Rd sub = {r->p, r->p + len};
		r->p += len;
		while (sub.p < sub.end)
			if (rd_scalar(&sub, elem_wire, &x) || rep_push(out, x))
				return -1;
		return 0;
	}
	if (wire != elem_wire)
		return -1;
	return rd_scalar(r, wire, &x) || rep_push(out, x) ? -1 : 0;
}

static int skip_field(Rd *r, int wire)
{
	uint64_t x;
	switch (wire) {
	case 0: return rd_varint(r, &x);
	case 1: if (r->end - r->p < 8) return -1; r->p += 8; return 0;
	case 5: if (r->end - r->p < 4) return -1; r->p += 4; return 0;
	case 2:
		if (rd_varint(r, &x) || x > (uint64_t)(r->end - r->p))
			return -1;
		r->p += x;
		return 0;
	default: return -1;
	}
}

/* 4-bit integers: ONNX files pack two per byte, low nibble first; a
 * kiln_tensor (like the C ABI) holds one per byte, i4 sign-extended. */
static int is_4bit(int dtype) { return dtype == KILN_U4 || dtype == KILN_I4; }

static void unpack_4bit(unsigned char *dst, const unsigned char *src, size_t n, int sign)
{
	for (size_t i = 0; i < n; i++) {
		int v = src[i / 2] >> (i % 2 * 4) & 0x0f;
		dst[i] = (unsigned char)(sign && v & 8 ? v - 16 : v);
	}
}

/* The typed TensorProto field that carries values of this dtype. */
static int value_field(int dtype)
{
	switch (dtype) {
	case KILN_F32: return 4;                                  /* float_data */
	case KILN_I64: return 7;                                  /* int64_data */
	case KILN_F64: return 10;                                 /* double_data */
	case KILN_U32: case KILN_U64: return 11;                  /* uint64_data */
	default: return 5;                                        /* int32_data */
	}
}

int kiln_tensor_decode_pb(const uint8_t *buf, size_t len, kiln_tensor *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	Rd r = {buf, buf + len};
	Rep dims = {0}, vals = {0};
	const uint8_t *raw = NULL;
	size_t rawlen = 0;
	int dtype = 0, valfield = 0, rc = -1;
	while (r.p < r.end) {
		uint64_t key;
		if (rd_varint(&r, &key))
			goto bad;
		int field = (int)(key >> 3), wire = (int)(key & 7);
		uint64_t x;
		switch (field) {
		case 1:
			if (rd_repeated(&r, wire, 0, &dims))
				goto bad;
			break;
		case 2:
			if (wire != 0 || rd_varint(&r, &x))
				goto bad;
			dtype = (int)x;
			break;
		case 4: case 5: case 7: case 10: case 11: {
			int ew = field == 4 ? 5 : field == 10 ? 1 : 0;
			if (valfield && valfield != field) {
				rc = ERR("tensor has values in two different fields");
				goto out;
			}
			valfield = field;
			if (rd_repeated(&r, wire, ew, &vals))
				goto bad;
			break;
		}
		case 6:
			rc = ERR("string tensors are not supported");
			goto out;
		case 8:
			if (wire != 2 || rd_varint(&r, &x) || x > (uint64_t)(r.end - r.p))
				goto bad;
			{
				size_t n = x < sizeof t->name - 1 ? x : sizeof t->name - 1;
				memcpy(t->name, r.p, n);
				t->name[n] = 0;
			}
			r.p += x;
			break;
		case 9:
			if (wire != 2 || rd_varint(&r, &x) || x > (uint64_t)(r.end - r.p))
				goto bad;
			raw = r.p;
			rawlen = x;
			r.p += x;
			break;
		case 14:
			if (wire != 0 || rd_varint(&r, &x))
				goto bad;
			if (x != 0) {
				rc = ERR("tensors with external data are not supported here");
				goto out;
			}
			break;
		default:
			if (skip_field(&r, wire))
				goto bad;
		}
	}
	size_t esz = kiln_dtype_size(dtype);
	if (!esz) {
		rc = ERR("unsupported tensor data type %d", dtype);
		goto out;
	}
	if (vals.n && valfield != value_field(dtype)) {
		rc = ERR("%s tensor has its values in field %d, ONNX puts them in field %d", kiln_dtype_name(dtype),
			 valfield, value_field(dtype));
		goto out;
	}
	if (dims.n > KILN_IO_MAX_RANK) {
		rc = ERR("tensor rank %zu exceeds %d", dims.n, KILN_IO_MAX_RANK);
		goto out;
	}
	t->dtype = dtype;
	t->rank = (int)dims.n;
	size_t numel = 1;
	for (size_t i = 0; i < dims.n; i++) {
		int64_t d = (int64_t)dims.v[i];
		if (d < 0 || (d && numel > SIZE_MAX / 16 / (uint64_t)d)) {
			rc = ERR("tensor dimension %lld is negative or too large", (long long)d);
			goto out;
		}
		t->shape[i] = d;
		numel *= (size_t)d;
	}
	/* Sizes agree before anything is allocated: hostile dims cannot make
	 * us allocate more than the file holds.  4-bit values are packed in
	 * the file, in raw_data and int32_data alike. */
	size_t stored = is_4bit(dtype) ? (numel + 1) / 2 : numel;
	if (raw && vals.n) {
		rc = ERR("tensor has both raw_data and typed values");
		goto out;
	}
	if (raw && rawlen != stored * (is_4bit(dtype) ? 1 : esz)) {
		rc = ERR("raw_data has %zu bytes, shape needs %zu", rawlen, stored * (is_4bit(dtype) ? 1 : esz));
		goto out;
	}
	if (!raw && vals.n != stored) {
		rc = ERR("tensor has %zu values, shape needs %zu", vals.n, stored);
		goto out;
	}
	t->bytes = numel * esz;
	t->data = malloc(t->bytes ? t->bytes : 1);
	if (!t->data) {
		rc = ERR("out of memory for %zu bytes", t->bytes);
		goto out;
	}
	if (is_4bit(dtype)) {
		unsigned char *packed = raw ? NULL : malloc(stored ? stored : 1);
		if (!raw && !packed) {
			rc = ERR("out of memory for %zu bytes", stored);
			goto out;
		}
		for (size_t i = 0; !raw && i < stored; i++)
			packed[i] = (unsigned char)vals.v[i];
		unpack_4bit(t->data, raw ? raw : packed, numel, dtype == KILN_I4);
		free(packed);
	} else if (raw) {
		memcpy(t->data, raw, rawlen);
	} else {
		unsigned char *d = t->data;
		for (size_t i = 0; i < numel; i++) {
			uint64_t v = vals.v[i];
			/* Values arrive widened: float_data as f32 bits, int32_data
			 * as small ints or f16/bf16 bits, double_data as f64 bits;
			 * the low esz bytes are the element, little-endian. */
			for (size_t b = 0; b < esz; b++)
				d[i * esz + b] = (unsigned char)(v >> (8 * b));
		}
	}
	rc = 0;
	goto out;
bad:
	rc = ERR("not a valid TensorProto (malformed or truncated protobuf)");
out:
	free(dims.v);
	free(vals.v);
	if (rc)
		kiln_tensor_free(t);
	return rc;
}

/* ---- writing ---------------------------------------------------------------- */

static void put_varint(FILE *f, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		fputc(b | (v ? 0x80 : 0), f);
	} while (v);
}

/* Write via an exclusive temporary with a random name beside path (mkstemp:
 * a planted symlink is not followed), renamed into place only onto a
 * regular file or a new name, so a failed write leaves nothing at path and
 * a device or fifo at path is never replaced. */
static int dest_ok(const char *path)
{
	struct stat st;
	return lstat(path, &st) != 0 ? errno == ENOENT : S_ISREG(st.st_mode);
}

static FILE *open_tmp(const char *path, char *tmp, size_t n)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0;
	if (!dest_ok(path) || (size_t)snprintf(tmp, n, "%.*s.kiln-XXXXXX", dirlen, path) >= n)
		return NULL;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return NULL;
	mode_t mask = umask(0);  /* mkstemp makes 0600: give what a new file gets */
	umask(mask);
	FILE *f = fchmod(fd, 0666 & ~mask) == 0 ? fdopen(fd, "wb") : NULL;
	if (!f) {
		close(fd);
		unlink(tmp);
	}
	return f;
}

static int close_tmp(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
	int bad = fflush(f) != 0 || ferror(f);
	bad |= fclose(f) != 0;
	if (bad || !dest_ok(path) || rename(tmp, path) != 0) {
		unlink(tmp);
		return ERR("%s: cannot write%s", path, dest_ok(path) ? "" : " (not a regular file)");
	}
	return 0;
}

/* The tensor is well formed: known dtype, rank, dims and bytes agreeing. */
static int check_tensor(const char *path, const kiln_tensor *t, char *err, size_t errlen)
{
	size_t esz = kiln_dtype_size(t->dtype);
	if (!esz)
		return ERR("%s: unknown dtype %d", path, t->dtype);
	if (t->rank < 0 || t->rank > KILN_IO_MAX_RANK)
		return ERR("%s: rank %d out of range", path, t->rank);
	for (int i = 0; i < t->rank; i++)
		if (t->shape[i] < 0)
			return ERR("%s: negative dimension", path);
	if (kiln_tensor_numel(t) * esz != t->bytes || (t->bytes && !t->data))
		return ERR("%s: %zu data bytes do not match the shape", path, t->bytes);
	return 0;
}

int kiln_tensor_write_pb(const char *path, const kiln_tensor *t, char *err, size_t errlen)
{
	if (check_tensor(path, t, err, errlen))
		return -1;
	char tmp[4200];
	FILE *f = open_tmp(path, tmp, sizeof tmp);
	if (!f)
		return ERR("%s: cannot create%s", path, dest_ok(path) ? "" : " (not a regular file)");
	for (int i = 0; i < t->rank; i++) {
		put_varint(f, 1 << 3);
		put_varint(f, (uint64_t)t->shape[i]);
	}
	put_varint(f, 2 << 3);
	put_varint(f, (uint64_t)t->dtype);
	size_t nl = strlen(t->name);
	if (nl) {
		put_varint(f, 8 << 3 | 2);
		put_varint(f, nl);
		fwrite(t->name, 1, nl, f);
	}
	put_varint(f, 9 << 3 | 2);
	if (is_4bit(t->dtype)) {  /* packed two per byte, low nibble first */
		const unsigned char *d = t->data;
		put_varint(f, (t->bytes + 1) / 2);
		for (size_t i = 0; i < t->bytes; i += 2)
			fputc((d[i] & 0x0f) | (i + 1 < t->bytes ? (d[i + 1] & 0x0f) << 4 : 0), f);
	} else {
		put_varint(f, t->bytes);
		fwrite(t->data, 1, t->bytes, f);
	}
	return close_tmp(f, tmp, path, err, errlen);
}

/* ---- .npy --------------------------------------------------------------------- */

static const struct {
	const char *descr;
	int dtype;
} npy_types[] = {
	{"<f4", KILN_F32}, {"<f8", KILN_F64}, {"<f2", KILN_F16}, {"|u1", KILN_U8}, {"|i1", KILN_I8},
	{"<u2", KILN_U16}, {"<i2", KILN_I16}, {"<i4", KILN_I32}, {"<i8", KILN_I64}, {"|b1", KILN_BOOL},
	{"<u4", KILN_U32}, {"<u8", KILN_U64},
};

int kiln_tensor_decode_npy(const uint8_t *buf, size_t len, kiln_tensor *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0 || buf[6] < 1 || buf[6] > 3)
		return ERR("not a valid .npy file");
	size_t hl, off;
	if (buf[6] == 1) {
		hl = buf[8] | (size_t)buf[9] << 8;
		off = 10;
	} else {
		if (len < 12)
			return ERR("not a valid .npy file");
		hl = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		off = 12;
	}
	if (hl > len - off || hl > 65536)
		return ERR("truncated .npy header");
	char h[65537];
	memcpy(h, buf + off, hl);
	h[hl] = 0;
	const char *d = strstr(h, "'descr':"), *fo = strstr(h, "'fortran_order':"), *sh = strstr(h, "'shape':");
	if (!d || !fo || !sh)
		return ERR("malformed .npy header");
	if (strncmp(fo + 16 + strspn(fo + 16, " "), "False", 5) != 0)
		return ERR(".npy arrays in Fortran order are not supported");
	d += 8 + strspn(d + 8, " ");
	t->dtype = 0;
	for (unsigned i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
		if (d[0] == '\'' && strncmp(d + 1, npy_types[i].descr, 3) == 0 && d[4] == '\'')
			t->dtype = npy_types[i].dtype;
	if (!t->dtype)
		return ERR("unsupported .npy dtype %.8s", d);
	sh += 8 + strspn(sh + 8, " ");
	if (*sh++ != '(')
		return ERR("malformed .npy shape");
	size_t numel = 1;
	while (*sh && *sh != ')') {
		char *e;
		long long v = strtoll(sh, &e, 10);
		if (e == sh || v < 0 || t->rank == KILN_IO_MAX_RANK || (v && numel > SIZE_MAX / 16 / (uint64_t)v))
			return ERR("malformed .npy shape");
		t->shape[t->rank++] = v;
		numel *= (size_t)v;
		sh = e + strspn(e, " ,");
	}
	t->bytes = numel * kiln_dtype_size(t->dtype);
	if (len - off - hl != t->bytes)
		return ERR(".npy data has %zu bytes, shape needs %zu", len - off - hl, t->bytes);
	t->data = malloc(t->bytes ? t->bytes : 1);
	if (!t->data)
		return ERR("out of memory");
	memcpy(t->data, buf + off + hl, t->bytes);
	return 0;
}

int kiln_tensor_write_npy(const char *path, const kiln_tensor *t, char *err, size_t errlen)
{
	if (check_tensor(path, t, err, errlen))
		return -1;
	const char *descr = NULL;
	for (unsigned i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
		if (npy_types[i].dtype == t->dtype)
			descr = npy_types[i].descr;
	if (!descr)
		return ERR("%s: dtype %s has no .npy form", path, kiln_dtype_name(t->dtype));
	char h[512];
	int k = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
	for (int i = 0; i < t->rank; i++)
		k += snprintf(h + k, sizeof h - k, "%lld,%s", (long long)t->shape[i], i + 1 < t->rank ? " " : "");
	k += snprintf(h + k, sizeof h - k, "), }");
	while ((10 + k + 1) % 64)
		h[k++] = ' ';
	h[k++] = '\n';
	char tmp[4200];
	FILE *f = open_tmp(path, tmp, sizeof tmp);
	if (!f)
		return ERR("%s: cannot create%s", path, dest_ok(path) ? "" : " (not a regular file)");
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	fputc(k & 0xff, f);
	fputc(k >> 8, f);
	fwrite(h, 1, k, f);
	fwrite(t->data, 1, t->bytes, f);
	return close_tmp(f, tmp, path, err, errlen);
}

int kiln_tensor_decode(const uint8_t *buf, size_t len, kiln_tensor *t, char *err, size_t errlen)
{
	if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
		return kiln_tensor_decode_npy(buf, len, t, err, errlen);
	return kiln_tensor_decode_pb(buf, len, t, err, errlen);
}

int kiln_tensor_read(const char *path, kiln_tensor *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	FILE *f = fopen(path, "rb");
	if (!f)
		return ERR("%s: cannot open", path);
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		uint8_t *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	int ioerr = ferror(f);
	fclose(f);
	if (!buf || ioerr) {
		free(buf);
		return ERR("%s: cannot read", path);
	}
	char why[256];
	int rc = kiln_tensor_decode(buf, n, t, why, sizeof why);
	free(buf);
	if (rc)
		return ERR("%s: %s", path, why);
	return 0;
}
