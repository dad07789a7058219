/* Requantization by a fixed-point multiplier and a rounding shift: the
 * integer path's one rescale, written out in C so that constant folding,
 * tests and the reference lowerings agree with the kernels bit for bit.
 * Rounding is ONNX's: half to even (QuantizeLinear, QLinearConv). */
#include "ir.h"

#include <math.h>

bool ir_requant_of(double r, Requant *q)
{
	if (!(r > 0) || !isfinite(r) || r >= 2147483648.0)
		return false;
	int e;
	double f = frexp(r, &e);             /* r = f * 2^e, f in [0.5, 1) */
	int64_t m = llround(f * 2147483648.0); /* f * 2^31 in [2^30, 2^31] */
	if (m == (int64_t)1 << 31) {         /* f rounded up to 1 */
		m >>= 1;
		e++;
	}
	int shift = 31 - e;                  /* r ~ m * 2^-shift */
	if (shift > 62) {                    /* |acc * r| < 2^31 * 2^-32: always rounds to 0 */
		*q = (Requant){0, 0};
		return true;
	}
	if (shift < 1)                       /* r >= 2^30: outside what a product of scales gives */
		return false;
	*q = (Requant){(int32_t)m, shift};
	return true;
}

int32_t ir_requantize(int32_t acc, Requant q, int32_t zero, int32_t lo, int32_t hi)
{
	int64_t v = 0;
	if (q.mult) {
		int64_t p = (int64_t)acc * q.mult;        /* |p| < 2^62 */
		int64_t fl = p >> q.shift;                 /* floor (arithmetic shift) */
		int64_t rem = p - fl * ((int64_t)1 << q.shift), half = (int64_t)1 << (q.shift - 1);
		v = fl + (rem > half || (rem == half && (fl & 1)));
	}
	v += zero;
	return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}
