/* Copying a file two ways: through mappings, or through a buffer with read and write.
 *
 *   file_copy --mmap SRC DST   maps SRC (read-only, private) and DST (read-write, shared) and copies
 *                              with one memcpy: the kernel pages the data in and writes it back.
 *   file_copy --read SRC DST   reads SRC into a 64 KiB buffer and writes it out, chunk by chunk.
 *
 *   head -c 1000000 /dev/urandom > src.bin
 *   memtrace run -o m.mtr -- build/bin/examples/file_copy --mmap src.bin dst.bin
 *   memtrace maps m.mtr --timeline   # two program mmaps of 980 KiB each (1000000 bytes rounded up to
 *                                    # whole pages), born at lines 27-28, dead (munmap) at 32-33
 *   memtrace calls m.mtr             # the two mmap calls with their fds: r-- PRIVATE and rw- SHARED
 *   memtrace run -o r.mtr -- build/bin/examples/file_copy --read src.bin dst.bin
 *   memtrace calls r.mtr             # no file mapping at all: one malloc(65536) buffer, from the heap
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum { kBufferSize = 64 * 1024 };

static int copy_with_mmap(int in, int out, size_t size) {
  if (ftruncate(out, (off_t)size) != 0) return 1; /* the destination must be as long as the copy */
  void* src = mmap(NULL, size, PROT_READ, MAP_PRIVATE, in, 0);
  void* dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, out, 0);
  if (src == MAP_FAILED || dst == MAP_FAILED) return 1;
  printf("source mapped at %p, destination at %p, %zu bytes each\n", src, dst, size);
  memcpy(dst, src, size); /* page faults read src in; dirty dst pages are written back */
  munmap(src, size);
  munmap(dst, size); /* MAP_SHARED: the data reaches the file, no write() needed */
  return 0;
}

static int copy_with_read(int in, int out) {
  char* buffer = malloc(kBufferSize); /* 64 KiB: below the mmap threshold, so from the heap */
  if (!buffer) return 1;
  ssize_t n;
  while ((n = read(in, buffer, kBufferSize)) > 0) {
    if (write(out, buffer, (size_t)n) != n) return 1;
  }
  free(buffer);
  return n < 0;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s --mmap|--read SRC DST\n", argv[0]);
    return 2;
  }
  int in = open(argv[2], O_RDONLY);
  int out = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0644);
  struct stat st;
  if (in < 0 || out < 0 || fstat(in, &st) != 0 || st.st_size == 0) return 1;
  int failed =
      strcmp(argv[1], "--mmap") == 0 ? copy_with_mmap(in, out, (size_t)st.st_size) : copy_with_read(in, out);
  close(in);
  close(out);
  return failed;
}
