/* Unit tests for the runtime: dtype/status names (the freestanding part)
 * and tensor I/O (.pb TensorProto and .npy): fixtures made by python onnx
 * and numpy, round trips for every dtype, and hostile input. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"
#include "kiln_io.h"

/* Generated with /tmp/venv/bin/python: onnx.helper.make_tensor /
 * numpy_helper.from_array(...).SerializeToString() and np.save /
 * np.lib.format.write_array(version=...).  Note onnx writes dims unpacked
 * (proto2) and float/int32/int64 data packed. */
static const uint8_t f32_raw[] = {
	0x08, 0x02, 0x08, 0x03, 0x10, 0x01, 0x42, 0x01, 0x78, 0x4a, 0x18, 0x00, 0x00, 0xc0, 0x3f, 0x00,
	0x00, 0x00, 0xc0, 0x00, 0x00, 0x50, 0x40, 0x00, 0x00, 0x00, 0x00, 0x6f, 0x12, 0x83, 0x3a, 0x00,
	0x00, 0xe0, 0xc0,
};
static const uint8_t f32_float_data[] = {
	0x08, 0x03, 0x10, 0x01, 0x22, 0x0c, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00,
	0x00, 0x40, 0x42, 0x01, 0x79,
};
static const uint8_t i64_int64_data[] = {
	0x08, 0x04, 0x10, 0x07, 0x3a, 0x12, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00, 0x42, 0x01, 0x73,
};
static const uint8_t i32_int32_data[] = {
	0x08, 0x02, 0x08, 0x02, 0x10, 0x06, 0x2a, 0x1a, 0x07, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0xff, 0x07, 0x80, 0x80, 0x80, 0x80, 0xf8, 0xff, 0xff, 0xff,
	0xff, 0x01, 0x42, 0x01, 0x69,
};
static const uint8_t i8_int32_data[] = {
	0x08, 0x03, 0x10, 0x03, 0x2a, 0x15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
	0x7f, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x42, 0x01, 0x62,
};
static const uint8_t bool_int32_data[] = {
	0x08, 0x03, 0x10, 0x09, 0x2a, 0x03, 0x01, 0x00, 0x01, 0x42, 0x01, 0x6d,
};
static const uint8_t f16_int32_data[] = {
	0x08, 0x02, 0x10, 0x0a, 0x2a, 0x05, 0x80, 0x78, 0x80, 0x80, 0x03, 0x42, 0x01, 0x68,
};
static const uint8_t f64_double_data[] = {
	0x08, 0x02, 0x10, 0x0b, 0x42, 0x01, 0x64, 0x52, 0x10, 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9,
	0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0xc0,
};
static const uint8_t u64_uint64_data[] = {
	0x08, 0x02, 0x10, 0x0d, 0x42, 0x01, 0x75, 0x5a, 0x0b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	0x80, 0x80, 0x01, 0x05,
};
/* 4-bit values packed two per byte, low nibble first, in int32_data or
 * raw_data; float8 bits one per int32_data value. */
static const uint8_t i4_int32_data[] = {
	0x08, 0x05, 0x10, 0x16, 0x2a, 0x03, 0x78, 0x0f, 0x03, 0x42, 0x01, 0x71,
};
static const uint8_t u4_raw[] = {
	0x08, 0x03, 0x10, 0x15, 0x42, 0x01, 0x70, 0x4a, 0x02, 0xf0, 0x09,
};
static const uint8_t f8_int32_data[] = {
	0x08, 0x03, 0x10, 0x11, 0x2a, 0x04, 0x38, 0xfe, 0x01, 0x7f, 0x42, 0x01, 0x66,
};
static const uint8_t scalar_raw[] = {
	0x10, 0x01, 0x42, 0x02, 0x73, 0x63, 0x4a, 0x04, 0x00, 0x00, 0x80, 0x40,
};
static const uint8_t empty_raw[] = {
	0x08, 0x00, 0x08, 0x03, 0x10, 0x01, 0x42, 0x01, 0x65, 0x4a, 0x00,
};
static const uint8_t u8_raw[] = {
	0x08, 0x03, 0x10, 0x02, 0x42, 0x02, 0x75, 0x38, 0x4a, 0x03, 0x00, 0xff, 0x07,
};
static const uint8_t npy_f32[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63,
	0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x66, 0x34, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74,
	0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73,
	0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x20,
	0x33, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40,
	0x00, 0x00, 0xa0, 0x40, 0x00, 0x00, 0xc0, 0x40,
};
static const uint8_t npy_i64_v2[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x02, 0x00, 0x74, 0x00, 0x00, 0x00, 0x7b, 0x27, 0x64, 0x65,
	0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x69, 0x38, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f,
	0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61,
	0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x33,
	0x2c, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
};
static const uint8_t npy_bool_v3[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x03, 0x00, 0x74, 0x00, 0x00, 0x00, 0x7b, 0x27, 0x64, 0x65,
	0x73, 0x63, 0x72, 0x27, 0x3a, 0x20, 0x27, 0x7c, 0x62, 0x31, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f,
	0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61,
	0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32,
	0x2c, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0x01, 0x00,
};
static const uint8_t npy_scalar_f64[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63,
	0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x66, 0x38, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74,
	0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73,
	0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x29, 0x2c, 0x20,
	0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x40,
};
static const uint8_t npy_fortran[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63,
	0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x66, 0x34, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74,
	0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x54, 0x72, 0x75, 0x65,
	0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x20, 0x33,
	0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0x40,
	0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0xa0, 0x40,
};
static const uint8_t npy_bigendian[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63,
	0x72, 0x27, 0x3a, 0x20, 0x27, 0x3e, 0x66, 0x34, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74,
	0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73,
	0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x29,
	0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0x3f, 0x80, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
};
static const uint8_t npy_u16[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63,
	0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x75, 0x32, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74,
	0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73,
	0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x29,
	0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0x01, 0x00, 0xff, 0xff,
};
static const uint8_t npy_i8[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63,
	0x72, 0x27, 0x3a, 0x20, 0x27, 0x7c, 0x69, 0x31, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74,
	0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73,
	0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x29,
	0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0xfb, 0x05,
};
static const uint8_t npy_f16[] = {
	0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63,
	0x72, 0x27, 0x3a, 0x20, 0x27, 0x3c, 0x66, 0x32, 0x27, 0x2c, 0x20, 0x27, 0x66, 0x6f, 0x72, 0x74,
	0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73,
	0x65, 0x2c, 0x20, 0x27, 0x73, 0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x29,
	0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
	0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x0a,
	0x00, 0x38, 0x00, 0xbc,
};

typedef struct Fixture {
	const char *what;
	const uint8_t *buf;
	size_t len;
	const char *name;   /* TensorProto name ("" for .npy) */
	int dtype, rank;
	int64_t shape[2];
	const void *data;
	size_t bytes;
} Fixture;

static const float x_f32[] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, -7.0f}, y_f32[] = {1.0f, -0.5f, 2.0f}, sc_f32[] = {4.0f};
static const int64_t s_i64[] = {1, -1, 1LL << 40, 0}, n_i64[] = {-1, 2, 1LL << 50};
static const int32_t i_i32[] = {7, -8, 2147483647, -2147483647 - 1};
static const int8_t b_i8[] = {-1, 127, -128}, n_i8[] = {-5, 5};
static const uint8_t m_bool[] = {1, 0, 1}, u8_u8[] = {0, 255, 7}, n_bool[] = {1, 0};
static const uint16_t h_f16[] = {0x3c00, 0xc000}, n_f16[] = {0x3800, 0xbc00}, n_u16[] = {1, 65535};
static const double d_f64[] = {0.1, -3.5}, n_f64[] = {2.5};
static const uint64_t u_u64[] = {1ULL << 63, 5};
static const float n_f32[] = {1, 2, 3, 4, 5, 6};
static const int8_t q_i4[] = {-8, 7, -1, 0, 3};     /* unpacked: one per byte */
static const uint8_t p_u4[] = {0, 15, 9}, f_f8[] = {0x38, 0xfe, 0x7f};  /* 1, -448, NaN */

#define FIX(buf, name, dt, rank, s0, s1, data) {#buf, buf, sizeof buf, name, dt, rank, {s0, s1}, data, sizeof data}
static const Fixture fixtures[] = {
	FIX(f32_raw, "x", KILN_F32, 2, 2, 3, x_f32),
	FIX(f32_float_data, "y", KILN_F32, 1, 3, 0, y_f32),
	FIX(i64_int64_data, "s", KILN_I64, 1, 4, 0, s_i64),
	FIX(i32_int32_data, "i", KILN_I32, 2, 2, 2, i_i32),
	FIX(i8_int32_data, "b", KILN_I8, 1, 3, 0, b_i8),
	FIX(bool_int32_data, "m", KILN_BOOL, 1, 3, 0, m_bool),
	FIX(f16_int32_data, "h", KILN_F16, 1, 2, 0, h_f16),
	FIX(f64_double_data, "d", KILN_F64, 1, 2, 0, d_f64),
	FIX(u64_uint64_data, "u", KILN_U64, 1, 2, 0, u_u64),
	FIX(i4_int32_data, "q", KILN_I4, 1, 5, 0, q_i4),
	FIX(u4_raw, "p", KILN_U4, 1, 3, 0, p_u4),
	FIX(f8_int32_data, "f", KILN_F8E4M3FN, 1, 3, 0, f_f8),
	FIX(scalar_raw, "sc", KILN_F32, 0, 0, 0, sc_f32),
	{"empty_raw", empty_raw, sizeof empty_raw, "e", KILN_F32, 2, {0, 3}, NULL, 0},
	FIX(u8_raw, "u8", KILN_U8, 1, 3, 0, u8_u8),
	FIX(npy_f32, "", KILN_F32, 2, 2, 3, n_f32),
	FIX(npy_i64_v2, "", KILN_I64, 1, 3, 0, n_i64),
	FIX(npy_bool_v3, "", KILN_BOOL, 1, 2, 0, n_bool),
	FIX(npy_scalar_f64, "", KILN_F64, 0, 0, 0, n_f64),
	FIX(npy_u16, "", KILN_U16, 1, 2, 0, n_u16),
	FIX(npy_i8, "", KILN_I8, 1, 2, 0, n_i8),
	FIX(npy_f16, "", KILN_F16, 1, 2, 0, n_f16),
};
#define NFIX (int)(sizeof fixtures / sizeof fixtures[0])

static void check_tensor(const Fixture *f, const kiln_tensor *t)
{
	ck_assert_msg(t->dtype == f->dtype, "%s: dtype %d", f->what, t->dtype);
	ck_assert_str_eq(t->name, f->name);
	ck_assert_int_eq(t->rank, f->rank);
	for (int i = 0; i < f->rank; i++)
		ck_assert_int_eq(t->shape[i], f->shape[i]);
	ck_assert_uint_eq(t->bytes, f->bytes);
	ck_assert_uint_eq(kiln_tensor_numel(t) * kiln_dtype_size(t->dtype), t->bytes);
	ck_assert_ptr_nonnull(t->data);
	if (f->bytes)
		ck_assert_msg(memcmp(t->data, f->data, f->bytes) == 0, "%s: values differ", f->what);
}

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/kiln-rt-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void path_in(char *out, size_t n, const char *file)
{
	snprintf(out, n, "%s/%s", tmpdir, file);
}

START_TEST(dtype_names_and_sizes)
{
	static const struct { int code; const char *name; size_t size; } want[] = {
		{KILN_F32, "f32", 4}, {KILN_U8, "u8", 1}, {KILN_I8, "i8", 1}, {KILN_U16, "u16", 2},
		{KILN_I16, "i16", 2}, {KILN_I32, "i32", 4}, {KILN_I64, "i64", 8}, {KILN_BOOL, "bool", 1},
		{KILN_F16, "f16", 2}, {KILN_F64, "f64", 8}, {KILN_U32, "u32", 4}, {KILN_U64, "u64", 8},
		{KILN_BF16, "bf16", 2}, {KILN_F8E4M3FN, "f8e4m3fn", 1}, {KILN_F8E4M3FNUZ, "f8e4m3fnuz", 1},
		{KILN_F8E5M2, "f8e5m2", 1}, {KILN_F8E5M2FNUZ, "f8e5m2fnuz", 1}, {KILN_U4, "u4", 1}, {KILN_I4, "i4", 1},
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		ck_assert_str_eq(kiln_dtype_name(want[i].code), want[i].name);
		ck_assert_uint_eq(kiln_dtype_size(want[i].code), want[i].size);
	}
	/* Codes ONNX has but kiln does not: string, complex, float4, e8m0. */
	int unknown[] = {0, 8, 14, 15, 23, 24, -1, 1000};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		ck_assert_str_eq(kiln_dtype_name(unknown[i]), "?");
		ck_assert_uint_eq(kiln_dtype_size(unknown[i]), 0);
	}
	ck_assert_str_eq(kiln_status_str(KILN_OK), "ok");
	ck_assert_ptr_nonnull(strstr(kiln_status_str(KILN_ERR_NULL), "NULL"));
	ck_assert_ptr_nonnull(strstr(kiln_status_str(KILN_ERR_ALIGN), "align"));
	ck_assert_ptr_nonnull(kiln_status_str(12345));
}
END_TEST

START_TEST(decodes_python_fixtures)
{
	for (int i = 0; i < NFIX; i++) {
		const Fixture *f = &fixtures[i];
		kiln_tensor t;
		char err[256] = "";
		ck_assert_msg(kiln_tensor_decode(f->buf, f->len, &t, err, sizeof err) == 0, "%s: %s", f->what, err);
		check_tensor(f, &t);
		kiln_tensor_free(&t);
		ck_assert_ptr_null(t.data);
	}
}
END_TEST

START_TEST(reads_files_by_content)
{
	make_tmpdir();
	for (int i = 0; i < NFIX; i++) {
		const Fixture *f = &fixtures[i];
		char path[128];
		/* The extension says nothing: detection is by the npy magic. */
		path_in(path, sizeof path, "tensor.bin");
		FILE *fp = fopen(path, "wb");
		ck_assert_ptr_nonnull(fp);
		ck_assert_uint_eq(fwrite(f->buf, 1, f->len, fp), f->len);
		fclose(fp);
		kiln_tensor t;
		char err[256];
		ck_assert_msg(kiln_tensor_read(path, &t, err, sizeof err) == 0, "%s: %s", f->what, err);
		check_tensor(f, &t);
		kiln_tensor_free(&t);
		remove(path);
	}
	kiln_tensor t;
	char err[256], path[128];
	path_in(path, sizeof path, "missing.pb");
	ck_assert_int_eq(kiln_tensor_read(path, &t, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "missing.pb"));
	ck_assert_ptr_null(t.data);
	rmdir(tmpdir);
}
END_TEST

START_TEST(rejects_unsupported_npy)
{
	const struct { const uint8_t *buf; size_t len; const char *why; } bad[] = {
		{npy_fortran, sizeof npy_fortran, "Fortran"},
		{npy_bigendian, sizeof npy_bigendian, "dtype"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		kiln_tensor t;
		char err[256] = "";
		ck_assert_int_eq(kiln_tensor_decode(bad[i].buf, bad[i].len, &t, err, sizeof err), -1);
		ck_assert_msg(strstr(err, bad[i].why), "got '%s'", err);
		ck_assert_ptr_null(t.data);
	}
	/* Data shorter or longer than the shape. */
	uint8_t buf[sizeof npy_f32 + 4];
	memcpy(buf, npy_f32, sizeof npy_f32);
	kiln_tensor t;
	char err[256];
	ck_assert_int_eq(kiln_tensor_decode_npy(buf, sizeof npy_f32 - 1, &t, err, sizeof err), -1);
	ck_assert_int_eq(kiln_tensor_decode_npy(buf, sizeof buf, &t, err, sizeof err), -1);
	/* Not npy at all. */
	ck_assert_int_eq(kiln_tensor_decode_npy(f32_raw, sizeof f32_raw, &t, err, sizeof err), -1);
}
END_TEST

/* A TensorProto assembled by hand, for the forms python does not write. */
typedef struct Pb {
	uint8_t b[512];
	size_t n;
} Pb;

static void pb_varint(Pb *p, uint64_t v)
{
	do {
		p->b[p->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void pb_key(Pb *p, int field, int wire) { pb_varint(p, (uint64_t)field << 3 | wire); }

static void pb_bytes(Pb *p, int field, const void *data, size_t n)
{
	pb_key(p, field, 2);
	pb_varint(p, n);
	memcpy(p->b + p->n, data, n);
	p->n += n;
}

static int decode(const Pb *p, kiln_tensor *t, char *err)
{
	return kiln_tensor_decode_pb(p->b, p->n, t, err, 256);
}

START_TEST(pb_wire_forms)
{
	kiln_tensor t;
	char err[256];
	/* Packed dims, unpacked float_data (fixed32 one by one), unknown fields skipped. */
	Pb p = {0};
	uint8_t dims[] = {2, 2};
	pb_bytes(&p, 1, dims, 2);
	pb_key(&p, 2, 0);
	pb_varint(&p, KILN_F32);
	pb_bytes(&p, 12, "doc string", 10);     /* doc_string: skipped */
	pb_key(&p, 99, 0);                      /* unknown varint field */
	pb_varint(&p, 123456789);
	pb_key(&p, 98, 1);                      /* unknown fixed64 */
	for (int i = 0; i < 8; i++)
		p.b[p.n++] = 0xee;
	float v[4] = {1, 2, -3, 0.5f};
	for (int i = 0; i < 4; i++) {
		pb_key(&p, 4, 5);
		memcpy(p.b + p.n, &v[i], 4);
		p.n += 4;
	}
	pb_bytes(&p, 8, "nm", 2);
	ck_assert_msg(decode(&p, &t, err) == 0, "%s", err);
	ck_assert_int_eq(t.rank, 2);
	ck_assert_int_eq(t.shape[0], 2);
	ck_assert_str_eq(t.name, "nm");
	ck_assert_int_eq(memcmp(t.data, v, sizeof v), 0);
	kiln_tensor_free(&t);

	/* int64_data unpacked, with a negative value (10-byte varint). */
	p = (Pb){0};
	pb_key(&p, 1, 0);
	pb_varint(&p, 2);
	pb_key(&p, 2, 0);
	pb_varint(&p, KILN_I64);
	int64_t iv[2] = {-5, 1LL << 62};
	for (int i = 0; i < 2; i++) {
		pb_key(&p, 7, 0);
		pb_varint(&p, (uint64_t)iv[i]);
	}
	ck_assert_msg(decode(&p, &t, err) == 0, "%s", err);
	ck_assert_int_eq(memcmp(t.data, iv, sizeof iv), 0);
	kiln_tensor_free(&t);

	/* u32 travels in uint64_data. */
	p = (Pb){0};
	pb_key(&p, 1, 0);
	pb_varint(&p, 1);
	pb_key(&p, 2, 0);
	pb_varint(&p, KILN_U32);
	pb_key(&p, 11, 0);
	pb_varint(&p, 4000000000u);
	ck_assert_msg(decode(&p, &t, err) == 0, "%s", err);
	ck_assert_uint_eq(*(uint32_t *)t.data, 4000000000u);
	kiln_tensor_free(&t);

	/* A long name is truncated, not overflowed. */
	p = (Pb){0};
	char longname[400];
	memset(longname, 'a', sizeof longname);
	pb_bytes(&p, 8, longname, sizeof longname);
	pb_key(&p, 2, 0);
	pb_varint(&p, KILN_U8);
	ck_assert_int_eq(decode(&p, &t, err), -1);  /* rank 0 needs one value */
	pb_bytes(&p, 9, "\x07", 1);
	ck_assert_msg(decode(&p, &t, err) == 0, "%s", err);
	ck_assert_uint_eq(strlen(t.name), sizeof t.name - 1);
	kiln_tensor_free(&t);
}
END_TEST

START_TEST(pb_rejects)
{
	kiln_tensor t;
	char err[256];
	struct { const char *why; Pb p; } c[20];
	int n = 0;
#define CASE(w) (c[n].why = (w), c[n].p = (Pb){0}, &c[n++].p)
	Pb *p = CASE("string");
	pb_key(p, 2, 0); pb_varint(p, 8); pb_bytes(p, 6, "abc", 3);
	p = CASE("external");
	pb_key(p, 2, 0); pb_varint(p, KILN_F32); pb_key(p, 14, 0); pb_varint(p, 1);
	p = CASE("field");       /* float_data for an i64 tensor */
	pb_key(p, 1, 0); pb_varint(p, 1); pb_key(p, 2, 0); pb_varint(p, KILN_I64);
	pb_key(p, 4, 5); p->b[p->n++] = 0; p->b[p->n++] = 0; p->b[p->n++] = 0x80; p->b[p->n++] = 0x3f;
	p = CASE("both");        /* raw_data and typed values */
	pb_key(p, 1, 0); pb_varint(p, 1); pb_key(p, 2, 0); pb_varint(p, KILN_I32);
	pb_key(p, 5, 0); pb_varint(p, 3); pb_bytes(p, 9, "\1\0\0\0", 4);
	p = CASE("values");      /* two values for shape [3] */
	pb_key(p, 1, 0); pb_varint(p, 3); pb_key(p, 2, 0); pb_varint(p, KILN_I32);
	pb_key(p, 5, 0); pb_varint(p, 3); pb_key(p, 5, 0); pb_varint(p, 4);
	p = CASE("raw_data");    /* 3 bytes for an f32 scalar */
	pb_key(p, 2, 0); pb_varint(p, KILN_F32); pb_bytes(p, 9, "\1\2\3", 3);
	p = CASE("raw_data");    /* u4 [3] unpacked: 3 bytes, packed it is 2 */
	pb_key(p, 1, 0); pb_varint(p, 3); pb_key(p, 2, 0); pb_varint(p, KILN_U4); pb_bytes(p, 9, "\1\2\3", 3);
	p = CASE("values");      /* i4 [4] as one int32_data value per element */
	pb_key(p, 1, 0); pb_varint(p, 4); pb_key(p, 2, 0); pb_varint(p, KILN_I4);
	for (int i = 0; i < 4; i++) { pb_key(p, 5, 0); pb_varint(p, 1); }
	p = CASE("rank");        /* rank 9 */
	for (int i = 0; i < 9; i++) { pb_key(p, 1, 0); pb_varint(p, 1); }
	pb_key(p, 2, 0); pb_varint(p, KILN_U8); pb_bytes(p, 9, "\1", 1);
	p = CASE("negative");
	pb_key(p, 1, 0); pb_varint(p, (uint64_t)-3); pb_key(p, 2, 0); pb_varint(p, KILN_U8);
	p = CASE("data type");   /* complex64 */
	pb_key(p, 2, 0); pb_varint(p, 14);
	p = CASE("data type");   /* no data_type at all */
	pb_key(p, 1, 0); pb_varint(p, 1);
	p = CASE("raw_data");    /* huge dims, tiny data: refused before any allocation */
	pb_key(p, 1, 0); pb_varint(p, 1ULL << 40); pb_key(p, 1, 0); pb_varint(p, 1ULL << 19);
	pb_key(p, 2, 0); pb_varint(p, KILN_F32); pb_bytes(p, 9, "\1\2\3\4", 4);
	p = CASE("too large");   /* element count overflows */
	for (int i = 0; i < 4; i++) { pb_key(p, 1, 0); pb_varint(p, 1ULL << 40); }
	pb_key(p, 2, 0); pb_varint(p, KILN_F32);
	p = CASE("TensorProto"); /* wire type 3 (group) */
	pb_key(p, 2, 3);
	p = CASE("TensorProto"); /* length past the end */
	pb_key(p, 8, 2); pb_varint(p, 50); p->b[p->n++] = 'x';
	p = CASE("TensorProto"); /* dims with the wrong wire type */
	pb_key(p, 1, 5); p->b[p->n++] = 1; p->b[p->n++] = 0; p->b[p->n++] = 0; p->b[p->n++] = 0;
#undef CASE
	for (int i = 0; i < n; i++) {
		memset(&t, 0xa5, sizeof t);
		err[0] = 0;
		ck_assert_msg(decode(&c[i].p, &t, err) == -1, "case %d (%s) decoded", i, c[i].why);
		ck_assert_msg(strstr(err, c[i].why) != NULL, "case %d: want '%s' in '%s'", i, c[i].why, err);
		ck_assert_ptr_null(t.data);
	}
}
END_TEST

/* i4/u4 are written as ONNX packs them: two per byte, low nibble first,
 * an odd count's last byte padded with 0. */
START_TEST(writes_packed_4bit)
{
	make_tmpdir();
	int8_t v[5] = {-8, 7, -1, 0, 3};
	kiln_tensor t = {.name = "q", .dtype = KILN_I4, .rank = 1, .shape = {5}, .data = v, .bytes = 5};
	char err[256], pb[128];
	path_in(pb, sizeof pb, "q.pb");
	ck_assert_msg(kiln_tensor_write_pb(pb, &t, err, sizeof err) == 0, "%s", err);
	FILE *f = fopen(pb, "rb");
	uint8_t buf[64];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	static const uint8_t raw[] = {0x4a, 0x03, 0x78, 0x0f, 0x03};  /* raw_data, 3 bytes */
	ck_assert_uint_ge(n, sizeof raw);
	ck_assert(memcmp(buf + n - sizeof raw, raw, sizeof raw) == 0);
	remove(pb);
	rmdir(tmpdir);
}
END_TEST

/* Every dtype through both formats (bf16, float8 and 4-bit have no .npy
 * form; 4-bit values are canonical, as the runtime holds them). */
START_TEST(roundtrip_every_dtype)
{
	make_tmpdir();
	static const int dts[] = {KILN_F32, KILN_U8, KILN_I8, KILN_U16, KILN_I16, KILN_I32, KILN_I64,
				  KILN_BOOL, KILN_F16, KILN_F64, KILN_U32, KILN_U64, KILN_BF16,
				  KILN_F8E4M3FN, KILN_F8E4M3FNUZ, KILN_F8E5M2, KILN_F8E5M2FNUZ, KILN_U4, KILN_I4};
	static const int64_t shapes[][4] = {{3, 1, 5, 2}, {0, 4, 0, 0}, {7, 0, 0, 0}};
	static const int ranks[] = {4, 2, 0};
	unsigned seed = 11;
	for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
		for (int s = 0; s < 3; s++) {
			kiln_tensor t = {.dtype = dts[d], .rank = ranks[s]};
			memcpy(t.shape, shapes[s], sizeof shapes[s]);
			snprintf(t.name, sizeof t.name, "t%zu_%d", d, s);
			t.bytes = kiln_tensor_numel(&t) * kiln_dtype_size(t.dtype);
			uint8_t *data = malloc(t.bytes + 1);
			for (size_t k = 0; k < t.bytes; k++)
				data[k] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
			if (t.dtype == KILN_BOOL)
				for (size_t k = 0; k < t.bytes; k++)
					data[k] &= 1;
			if (t.dtype == KILN_U4 || t.dtype == KILN_I4)
				for (size_t k = 0; k < t.bytes; k++)
					data[k] = t.dtype == KILN_U4 ? data[k] & 0x0f : (uint8_t)((int8_t)(uint8_t)(data[k] << 4) >> 4);
			t.data = data;
			char err[256], pb[128], npy[128];
			path_in(pb, sizeof pb, "t.pb");
			path_in(npy, sizeof npy, "t.npy");
			ck_assert_msg(kiln_tensor_write_pb(pb, &t, err, sizeof err) == 0, "%s", err);
			int npy_rc = kiln_tensor_write_npy(npy, &t, err, sizeof err);
			ck_assert_int_eq(npy_rc, t.dtype == KILN_BF16 || t.dtype >= KILN_F8E4M3FN ? -1 : 0);
			for (int f = 0; f < 2; f++) {
				if (f == 1 && npy_rc)
					break;
				kiln_tensor r;
				ck_assert_msg(kiln_tensor_read(f ? npy : pb, &r, err, sizeof err) == 0, "%s", err);
				ck_assert_int_eq(r.dtype, t.dtype);
				ck_assert_int_eq(r.rank, t.rank);
				for (int k = 0; k < t.rank; k++)
					ck_assert_int_eq(r.shape[k], t.shape[k]);
				ck_assert_uint_eq(r.bytes, t.bytes);
				ck_assert_str_eq(r.name, f ? "" : t.name);
				ck_assert(t.bytes == 0 || memcmp(r.data, t.data, t.bytes) == 0);
				kiln_tensor_free(&r);
			}
			remove(pb);
			remove(npy);
			free(data);
		}
	rmdir(tmpdir);
}
END_TEST

START_TEST(writes_are_atomic)
{
	make_tmpdir();
	float v[2] = {1, 2};
	kiln_tensor t = {.dtype = KILN_F32, .rank = 1, .shape = {2}, .data = v, .bytes = sizeof v};
	char err[256], path[128];
	/* Into a folder that does not exist: an error, nothing written. */
	path_in(path, sizeof path, "no/such/dir/t.pb");
	ck_assert_int_eq(kiln_tensor_write_pb(path, &t, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "t.pb"));
	/* A tensor whose bytes disagree with its shape is refused. */
	path_in(path, sizeof path, "t.pb");
	t.bytes = 4;
	ck_assert_int_eq(kiln_tensor_write_pb(path, &t, err, sizeof err), -1);
	ck_assert_int_eq(kiln_tensor_write_npy(path, &t, err, sizeof err), -1);
	t.bytes = sizeof v;
	t.dtype = 99;
	ck_assert_int_eq(kiln_tensor_write_pb(path, &t, err, sizeof err), -1);
	ck_assert_int_ne(access(path, F_OK), 0);
	/* The folder holds nothing: no temporaries left behind. */
	ck_assert_int_eq(rmdir(tmpdir), 0);
}
END_TEST

static void decode_any(const uint8_t *buf, size_t len)
{
	kiln_tensor t;
	char err[256];
	if (kiln_tensor_decode(buf, len, &t, err, sizeof err) == 0) {
		ck_assert_uint_eq(kiln_tensor_numel(&t) * kiln_dtype_size(t.dtype), t.bytes);
		/* Never more than the input can describe: a typed value takes at
		 * least one byte on the wire and widens to at most 8. */
		ck_assert(t.bytes <= 8 * len);
		kiln_tensor_free(&t);
	} else {
		ck_assert_ptr_null(t.data);
		ck_assert(err[0] != 0);
	}
}

/* Truncation at every byte, single-byte corruption at every byte, and
 * random garbage: always an error or a consistent tensor, never a crash. */
START_TEST(hostile_input)
{
	const Fixture extra[] = {
		{"npy_fortran", npy_fortran, sizeof npy_fortran},
		{"npy_bigendian", npy_bigendian, sizeof npy_bigendian},
	};
	uint8_t buf[1024];
	for (int i = 0; i < NFIX + 2; i++) {
		const Fixture *f = i < NFIX ? &fixtures[i] : &extra[i - NFIX];
		ck_assert_uint_le(f->len, sizeof buf);
		for (size_t cut = 0; cut < f->len; cut++) {
			/* A private copy of exactly cut bytes: reads past it are bugs. */
			uint8_t *copy = malloc(cut + 1);
			memcpy(copy, f->buf, cut);
			decode_any(copy, cut);
			free(copy);
		}
		for (size_t k = 0; k < f->len; k++)
			for (int v = 0; v < 256; v += 51) {
				memcpy(buf, f->buf, f->len);
				buf[k] ^= (uint8_t)(v | 1);
				decode_any(buf, f->len);
			}
	}
	srand(5);
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand() % 200);
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rand();
		if (i % 3 == 0 && len >= 10)
			memcpy(buf, "\x93NUMPY\x01\x00", 8);  /* garbage behind a valid magic */
		decode_any(buf, len);
	}
	/* npy headers that lie about their length. */
	memcpy(buf, npy_f32, sizeof npy_f32);
	buf[8] = 0xff;
	buf[9] = 0xff;
	decode_any(buf, sizeof npy_f32);
	memcpy(buf, npy_i64_v2, sizeof npy_i64_v2);
	buf[11] = 0x7f;
	decode_any(buf, sizeof npy_i64_v2);
}
END_TEST

START_TEST(tensor_io_roundtrip)
{
	char dir[] = "/tmp/kiln-io-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	int64_t vals[6] = {1, -2, 3, -4, 1LL << 40, 0};
	kiln_tensor t = {.dtype = KILN_I64, .rank = 2, .shape = {2, 3}, .data = vals, .bytes = sizeof vals};
	strcpy(t.name, "ints");
	char err[256], pb[300], npy[300];
	snprintf(pb, sizeof pb, "%s/t.pb", dir);
	snprintf(npy, sizeof npy, "%s/t.npy", dir);
	ck_assert_int_eq(kiln_tensor_write_pb(pb, &t, err, sizeof err), 0);
	ck_assert_int_eq(kiln_tensor_write_npy(npy, &t, err, sizeof err), 0);
	const char *paths[] = {pb, npy};
	for (int i = 0; i < 2; i++) {
		kiln_tensor r;
		ck_assert_msg(kiln_tensor_read(paths[i], &r, err, sizeof err) == 0, "%s", err);
		ck_assert_int_eq(r.dtype, KILN_I64);
		ck_assert_int_eq(r.rank, 2);
		ck_assert_int_eq(r.shape[1], 3);
		ck_assert_int_eq(memcmp(r.data, vals, sizeof vals), 0);
		kiln_tensor_free(&r);
	}
	/* Every truncation of the .pb is an error or a valid tensor, never a crash. */
	FILE *f = fopen(pb, "rb");
	uint8_t buf[512];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	for (size_t cut = 0; cut < n; cut++) {
		kiln_tensor r;
		if (kiln_tensor_decode_pb(buf, cut, &r, err, sizeof err) == 0)
			kiln_tensor_free(&r);
	}
	srand(3);
	for (int i = 0; i < 2000; i++) {
		for (size_t k = 0; k < n; k++)
			buf[k] = rand() % 8 ? buf[k] : (uint8_t)rand();
		kiln_tensor r;
		if (kiln_tensor_decode_pb(buf, n, &r, err, sizeof err) == 0)
			kiln_tensor_free(&r);
	}
	remove(pb);
	remove(npy);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("runtime");
	TCase *tc = tcase_create("runtime");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, dtype_names_and_sizes);
	tcase_add_test(tc, decodes_python_fixtures);
	tcase_add_test(tc, reads_files_by_content);
	tcase_add_test(tc, rejects_unsupported_npy);
	tcase_add_test(tc, pb_wire_forms);
	tcase_add_test(tc, pb_rejects);
	tcase_add_test(tc, roundtrip_every_dtype);
	tcase_add_test(tc, writes_packed_4bit);
	tcase_add_test(tc, writes_are_atomic);
	tcase_add_test(tc, hostile_input);
	tcase_add_test(tc, tensor_io_roundtrip);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
