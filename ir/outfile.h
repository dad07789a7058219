/* Output files written safely: an exclusive temporary with an unpredictable
 * name beside the destination, renamed into place only when every write
 * succeeded, and only onto a regular file (or a new name) that is not the
 * model being read. */
#ifndef KILN_OUTFILE_H
#define KILN_OUTFILE_H

#include "ir.h"

#include <stddef.h>
#include <stdio.h>

typedef struct OutFile {
	FILE *f;              /* write here between ir_out_open and ir_out_commit */
	const char *path;     /* the destination (not copied) */
	char tmp[4200];       /* the temporary's name */
} OutFile;

/* Check the destination and create its temporary.  input (may be NULL) is
 * the model: a destination that is the same file is refused.  False with
 * one diagnostic naming path, and nothing created. */
bool ir_out_open(OutFile *o, const char *path, const char *input, Diag *d);

/* Flush and close, check that every write succeeded, check the destination
 * again and rename the temporary onto it.  False with a diagnostic, and the
 * temporary removed, when anything failed. */
bool ir_out_commit(OutFile *o, Diag *d);

/* Give up: close and remove the temporary. */
void ir_out_abort(OutFile *o);

/* The whole of buf to path through the steps above. */
bool ir_out_write(const char *path, const char *input, const void *buf, size_t n, Diag *d);

/* Refuse a destination that exists and is not a regular file, or that is
 * the file input; true when path may be written. */
bool ir_out_check(const char *path, const char *input, Diag *d);

#endif
