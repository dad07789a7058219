/* The source model's shared helpers: what the ONNX and JSON readers and the
 * importer all need (model lifetime, file reading, element conversions). */
#include "source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool src_model_init(SrcModel *m, const char *file)
{
	memset(m, 0, sizeof *m);
	m->arena = ir_arena_new();
	m->file = file ? file : "";
	m->name = "model";
	m->opset = -1;
	return m->arena != NULL;
}

void src_model_free(SrcModel *m)
{
	ir_arena_free(m->arena);
	m->arena = NULL;
}

char *src_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		errno = EISDIR;
		return NULL;
	}
	size_t n = (size_t)st.st_size;
	char *buf = malloc(n + 1);
	if (!buf) {
		fclose(f);
		errno = ENOMEM;
		return NULL;
	}
	size_t got = fread(buf, 1, n, f);
	fclose(f);
	if (got != n) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

uint16_t src_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
	if (e == 0xff)
		return (uint16_t)(sign | 0x7c00 | (m ? 0x200 | (m >> 13) : 0));
	int32_t he = (int32_t)e - 127 + 15;
	if (he >= 0x1f)
		return (uint16_t)(sign | 0x7c00);
	if (he <= 0) {
		if (he < -10)
			return (uint16_t)sign;
		m |= 0x800000;
		int shift = 14 - he;
		uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (hm & 1)))
			hm++;
		return (uint16_t)(sign | hm);
	}
	uint32_t hm = m >> 13, rem = m & 0x1fff;
	uint32_t h = sign | ((uint32_t)he << 10) | hm;
	if (rem > 0x1000 || (rem == 0x1000 && (hm & 1)))
		h++;  /* a carry into the exponent is the correct rounding */
	return (uint16_t)h;
}

uint16_t src_f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 0x40);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

static float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
	if (e == 0x1f)
		x = sign | 0x7f800000 | (m << 13);
	else if (e)
		x = sign | ((e + 112) << 23) | (m << 13);
	else if (!m)
		x = sign;
	else {
		e = 113;
		while (!(m & 0x400)) {
			m <<= 1;
			e--;
		}
		x = sign | (e << 23) | ((m & 0x3ff) << 13);
	}
	float f;
	memcpy(&f, &x, 4);
	return f;
}

void src_store(void *data, DType dt, int64_t i, double v)
{
	unsigned char *p = data;
	switch (dt) {
	case DT_F32: { float x = (float)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_F64: memcpy(p + 8 * i, &v, 8); break;
	case DT_F16: { uint16_t x = src_f32_to_f16((float)v); memcpy(p + 2 * i, &x, 2); break; }
	case DT_BF16: { uint16_t x = src_f32_to_bf16((float)v); memcpy(p + 2 * i, &x, 2); break; }
	case DT_U8: p[i] = (uint8_t)v; break;
	case DT_I8: { int8_t x = (int8_t)v; memcpy(p + i, &x, 1); break; }
	case DT_U4: p[i] = (uint8_t)((uint8_t)v & 0x0f); break;
	case DT_I4: { int x = (int8_t)v & 0x0f; p[i] = (uint8_t)(int8_t)(x & 8 ? x - 16 : x); break; }
	case DT_BOOL: p[i] = v != 0; break;
	case DT_U16: { uint16_t x = (uint16_t)v; memcpy(p + 2 * i, &x, 2); break; }
	case DT_I16: { int16_t x = (int16_t)v; memcpy(p + 2 * i, &x, 2); break; }
	case DT_I32: { int32_t x = (int32_t)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_U32: { uint32_t x = (uint32_t)v; memcpy(p + 4 * i, &x, 4); break; }
	case DT_I64: { int64_t x = (int64_t)v; memcpy(p + 8 * i, &x, 8); break; }
	case DT_U64: { uint64_t x = (uint64_t)v; memcpy(p + 8 * i, &x, 8); break; }
	default:
		if (ir_dtype_is_f8(dt))
			p[i] = ir_f32_to_f8(dt, (float)v, true);
		break;
	}
}

double src_load(const void *data, DType dt, int64_t i)
{
	const unsigned char *p = data;
	switch (dt) {
	case DT_F32: { float x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_F64: { double x; memcpy(&x, p + 8 * i, 8); return x; }
	case DT_F16: { uint16_t x; memcpy(&x, p + 2 * i, 2); return f16_to_f32(x); }
	case DT_BF16: { uint16_t x; memcpy(&x, p + 2 * i, 2); uint32_t u = (uint32_t)x << 16; float f; memcpy(&f, &u, 4); return f; }
	case DT_U8: case DT_U4: case DT_BOOL: return p[i];
	case DT_I8: case DT_I4: return (int8_t)p[i];
	case DT_U16: { uint16_t x; memcpy(&x, p + 2 * i, 2); return x; }
	case DT_I16: { int16_t x; memcpy(&x, p + 2 * i, 2); return x; }
	case DT_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_U32: { uint32_t x; memcpy(&x, p + 4 * i, 4); return x; }
	case DT_I64: { int64_t x; memcpy(&x, p + 8 * i, 8); return (double)x; }
	case DT_U64: { uint64_t x; memcpy(&x, p + 8 * i, 8); return (double)x; }
	default: return ir_dtype_is_f8(dt) ? ir_f8_to_f32(dt, p[i]) : 0;
	}
}
