/* VSZ vs RSS: asking for memory is not using it.
 *
 * mmap reserves address space: the process's virtual size (VSZ) grows at once by the whole length.
 * Physical pages are given one at a time, when first touched; the resident set (RSS) grows with
 * them. MADV_DONTNEED gives the pages back: RSS falls, VSZ stays.
 *
 * The program maps 64 MiB, touches half of it page by page, then the rest, then drops the pages,
 * and prints VSZ and RSS (from /proc/self/statm) after each step.
 *
 *   memtrace run -o t.mtr -- build/bin/examples/vsz_rss
 *   memtrace maps t.mtr --at end      # one 65536 KiB rw-p mapping, origin "program mmap"
 *   memtrace calls t.mtr              # the mmap and the madvise
 *
 * What the trace cannot show: memtrace records calls, and touching a page is not a call (it is a
 * page fault the kernel handles silently). So the trace knows the mapping's size for its whole life
 * but not which of its pages are resident at any time: its map is the VSZ view, never the RSS one.
 * For RSS look at /proc/PID/smaps, `pmap -x PID`, or the numbers printed here.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

enum { kSize = 64 * 1024 * 1024 };

static void report(const char* when) {
  long vsz_pages = 0, rss_pages = 0;
  FILE* statm = fopen("/proc/self/statm", "r");
  if (!statm || fscanf(statm, "%ld %ld", &vsz_pages, &rss_pages) != 2) return;
  fclose(statm);
  long kib = sysconf(_SC_PAGESIZE) / 1024;
  printf("%-22s VSZ %7ld KiB  RSS %7ld KiB\n", when, vsz_pages * kib, rss_pages * kib);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  report("start");
  char* area = mmap(NULL, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return 1;
  report("mapped 64 MiB");
  long page = sysconf(_SC_PAGESIZE);
  for (long offset = 0; offset < kSize / 2; offset += page) area[offset] = 1; /* one fault per page */
  report("touched 32 MiB");
  for (long offset = kSize / 2; offset < kSize; offset += page) area[offset] = 1;
  report("touched 64 MiB");
  madvise(area, kSize, MADV_DONTNEED); /* the pages go back to the kernel; the mapping stays */
  report("after MADV_DONTNEED");
  return 0;
}
