/* Inline math beyond exp/log/tanh (those are in cg_module.c): trigonometric,
 * hyperbolic and inverse functions, erf, pow, fmod and round-half-even,
 * built from LLVM instructions so the object never calls libm. */
#include <math.h>

#include "cg_internal.h"
