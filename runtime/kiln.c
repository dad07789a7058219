/* The freestanding part of the runtime: status and dtype names and sizes.
 * Uses no libc, so it links into bare-metal firmware. */
#include "kiln.h"

const char *kiln_status_str(int status)
{
	switch (status) {
	case KILN_OK: return "ok";
	case KILN_ERR_NULL: return "a NULL pointer was passed for inputs, outputs or workspace";
	case KILN_ERR_ALIGN: return "the workspace is not aligned to NAME_WORKSPACE_ALIGN";
	default: return "unknown status";
	}
}

static const struct {
	int code;
	const char *name;
	unsigned char size;
} dtypes[] = {
	{KILN_F32, "f32", 4}, {KILN_U8, "u8", 1}, {KILN_I8, "i8", 1}, {KILN_U16, "u16", 2},
	{KILN_I16, "i16", 2}, {KILN_I32, "i32", 4}, {KILN_I64, "i64", 8}, {KILN_BOOL, "bool", 1},
	{KILN_F16, "f16", 2}, {KILN_F64, "f64", 8}, {KILN_U32, "u32", 4}, {KILN_U64, "u64", 8},
	{KILN_BF16, "bf16", 2}, {KILN_F8E4M3FN, "f8e4m3fn", 1}, {KILN_F8E4M3FNUZ, "f8e4m3fnuz", 1},
	{KILN_F8E5M2, "f8e5m2", 1}, {KILN_F8E5M2FNUZ, "f8e5m2fnuz", 1}, {KILN_U4, "u4", 1}, {KILN_I4, "i4", 1},
};

const char *kiln_dtype_name(int dtype)
{
	for (unsigned i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].code == dtype)
			return dtypes[i].name;
	return "?";
}

size_t kiln_dtype_size(int dtype)
{
	for (unsigned i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].code == dtype)
			return dtypes[i].size;
	return 0;
}
