/* Output files: exclusive temporaries renamed into place (outfile.h).
 *
 * kiln often runs as root in build containers on paths a user chose, so a
 * destination that is a device, a fifo or a symlink is refused rather than
 * replaced or followed; the temporary is made by mkstemp (O_CREAT|O_EXCL:
 * a planted symlink makes it fail instead of being followed) with a random
 * name in the destination's folder, so the rename is atomic. */
#define _GNU_SOURCE
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool ir_out_check(const char *path, const char *input, Diag *d)
{
	struct stat st, in;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return true;
		diag_error(d, path, NULL, NULL, "cannot write: %s", strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_error(d, path, NULL, NULL, "exists and is not a regular file (%s); kiln replaces only regular files",
			   S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISDIR(st.st_mode) ? "a folder"
			   : S_ISFIFO(st.st_mode) ? "a fifo" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
			   : "a special file");
		return false;
	}
	if (input && stat(input, &in) == 0 && in.st_dev == st.st_dev && in.st_ino == st.st_ino) {
		diag_error(d, path, NULL, NULL, "is the input model; kiln does not overwrite its input");
		return false;
	}
	return true;
}

bool ir_out_open(OutFile *o, const char *path, const char *input, Diag *d)
{
	memset(o, 0, sizeof *o);
	o->path = path;
	if (!ir_out_check(path, input, d))
		return false;
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0;
	const char *base = slash ? slash + 1 : path;
	/* ".BASE.XXXXXX" beside the destination: hidden, unpredictable, and on
	 * the same file system.  A long base is cut: the name need not mean
	 * anything, only be unique. */
	if ((size_t)snprintf(o->tmp, sizeof o->tmp, "%.*s.%.60s.XXXXXX", dirlen, path, base) >= sizeof o->tmp) {
		diag_error(d, path, NULL, NULL, "path too long");
		return false;
	}
	int fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0) {
		diag_error(d, path, NULL, NULL, "cannot create a file in its folder: %s", strerror(errno));
		return false;
	}
	/* mkstemp makes 0600; an output gets the permissions of any new file. */
	mode_t mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0 || !(o->f = fdopen(fd, "wb"))) {
		diag_error(d, path, NULL, NULL, "cannot write: %s", strerror(errno));
		close(fd);
		unlink(o->tmp);
		return false;
	}
	return true;
}

void ir_out_abort(OutFile *o)
{
	if (o->f) {
		fclose(o->f);
		o->f = NULL;
		unlink(o->tmp);
	}
}

bool ir_out_commit(OutFile *o, Diag *d)
{
	if (!o->f)
		die("ir_out_commit without ir_out_open");
	errno = 0;
	bool ok = fflush(o->f) == 0 && !ferror(o->f);
	int err = errno;
	ok &= fclose(o->f) == 0;
	if (!err)
		err = errno;
	o->f = NULL;
	if (!ok) {
		unlink(o->tmp);
		diag_error(d, o->path, NULL, NULL, "cannot write: %s", strerror(err ? err : EIO));
		return false;
	}
	/* Once more just before the rename: what is there now is what gets
	 * replaced. */
	if (!ir_out_check(o->path, NULL, d)) {
		unlink(o->tmp);
		return false;
	}
	if (rename(o->tmp, o->path) != 0) {
		err = errno;
		unlink(o->tmp);
		diag_error(d, o->path, NULL, NULL, "cannot write: %s", strerror(err));
		return false;
	}
	return true;
}

bool ir_out_write(const char *path, const char *input, const void *buf, size_t n, Diag *d)
{
	OutFile o;
	if (!ir_out_open(&o, path, input, d))
		return false;
	if (n && fwrite(buf, 1, n, o.f) != n) {
		int err = errno;
		ir_out_abort(&o);
		diag_error(d, path, NULL, NULL, "cannot write: %s", strerror(err ? err : EIO));
		return false;
	}
	return ir_out_commit(&o, d);
}
