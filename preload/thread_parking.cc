#include "preload/thread_parking.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

namespace memtrace::preload {

namespace {

// The request's payload (si_value): bits 63..48 kCookie, 47..24 the session, 23..0 the slot index.
constexpr uint64_t kCookie = 0x6d74;  // "mt"
constexpr uint32_t kMaxThreads = 1u << 16;
constexpr int kListingPasses = 4;  // listings of /proc/self/task, for threads started while parking

// The slots of the current session, mapped by ParkOtherThreads and unmapped by ResumeThreads: 64K
// threads reserve about 11 MiB of address space, of which only the pages of slots in use are touched.
std::atomic<ParkedThread*> slots{nullptr};

// Handlers between their first look at the session and their last touch of a slot. ResumeThreads
// publishes the resumption, then unmaps the slots only once it sees none inside: a handler that
// enters later sees the resumption and touches nothing (sequentially consistent on both sides).
std::atomic<uint32_t> inside{0};

// The session being parked (0: none yet) and the last one resumed: a parked thread waits on
// `resumed` until it names its session. `answers` counts parked threads, for the scanner's futex.
std::atomic<uint32_t> current_session{0};
std::atomic<uint32_t> resumed{0};
std::atomic<uint32_t> answers{0};

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

uint64_t Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr uint64_t kSlotBytes = kMaxThreads * sizeof(ParkedThread);

ParkedThread* MapSlots() {
  long map = syscall(SYS_mmap, nullptr, kSlotBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map < 0 && map > -4096) return nullptr;
  return reinterpret_cast<ParkedThread*>(map);
}

// Whether `signo` is blocked in thread `tid`, from the SigBlk line of its /proc status (false when it
// cannot be read: the request then simply times out if it is blocked).
bool SignalBlocked(uint32_t tid, int signo) {
  char path[64] = "/proc/self/task/";
  int length = 16;
  char digits[12];
  int n = 0;
  do digits[n++] = static_cast<char>('0' + tid % 10), tid /= 10;
  while (tid);
  while (n) path[length++] = digits[--n];
  const char tail[] = "/status";
  for (char c : tail) path[length++] = c;
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return false;
  char text[4096];
  long got = 0;
  while (got < static_cast<long>(sizeof text) - 1) {
    long r = syscall(SYS_read, fd, text + got, sizeof text - 1 - got);
    if (r <= 0) break;
    got += r;
  }
  syscall(SYS_close, fd);
  text[got] = 0;
  const char key[] = "\nSigBlk:";
  for (long i = 0; i + 8 < got; ++i) {
    bool match = true;
    for (int k = 0; k < 8 && match; ++k) match = text[i + k] == key[k];
    if (!match) continue;
    uint64_t mask = 0;
    for (long j = i + 8; j < got; ++j) {
      char c = text[j];
      if (c == '\t' || c == ' ') continue;
      int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) break;
      mask = mask << 4 | static_cast<uint64_t>(digit);
    }
    return (mask >> (signo - 1)) & 1;
  }
  return false;
}

// Calls visit(tid) for every thread of the process, through getdents64 into a buffer on the stack.
template <typename Visit>
void ForEachTask(Visit visit) {
  int fd =
      static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd < 0) return;
  alignas(8) char buffer[4096];
  for (;;) {
    long got = syscall(SYS_getdents64, fd, buffer, sizeof buffer);
    if (got <= 0) break;
    for (long offset = 0; offset < got;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name.
      uint16_t record_length;
      __builtin_memcpy(&record_length, buffer + offset + 16, 2);
      const char* name = buffer + offset + 19;
      uint32_t tid = 0;
      bool number = *name != 0;
      for (const char* c = name; *c; ++c) {
        if (*c < '0' || *c > '9') number = false;
        tid = tid * 10 + static_cast<uint32_t>(*c - '0');
      }
      if (number) visit(tid);
      offset += record_length;
    }
  }
  syscall(SYS_close, fd);
}

void SaveRegisters(ParkedThread& slot, const void* context) {
  const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  static_assert(REG_R8 == 0 && REG_RIP == kSavedRegisters - 1);
  for (int i = 0; i < kSavedRegisters; ++i)
    slot.registers[i] = static_cast<uint64_t>(uc->uc_mcontext.gregs[i]);
  slot.stack_pointer = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  for (int i = 0; i < 31; ++i) slot.registers[i] = uc->uc_mcontext.regs[i];
  slot.registers[31] = uc->uc_mcontext.sp;
  slot.registers[32] = uc->uc_mcontext.pc;
  slot.stack_pointer = uc->uc_mcontext.sp;
#endif
}

// Waits until no slot of [from, to) is still kRequested, or until kAnswerTimeoutNs pass without a new
// answer (with more threads than cores, the last ones take a while to be scheduled at all, but every
// answer shows the others are coming; the wait is still bounded, by the number of threads times the
// timeout at worst). The slots still requested then are skipped (a compare-and-swap, since the thread
// may answer at that very moment).
void AwaitAnswers(ParkedThread* base, uint32_t from, uint32_t to) {
  uint32_t last_seen = answers.load(std::memory_order_acquire);
  uint64_t deadline = Now() + kAnswerTimeoutNs;
  for (;;) {
    uint32_t seen = answers.load(std::memory_order_acquire);
    uint64_t now = Now();
    if (seen != last_seen) last_seen = seen, deadline = now + kAnswerTimeoutNs;
    bool pending = false;
    for (uint32_t i = from; i < to && !pending; ++i) {
      pending = base[i].state.load(std::memory_order_acquire) == ParkedThread::kRequested;
    }
    if (!pending) return;
    if (now >= deadline) break;
    uint64_t wait = deadline - now < 10'000'000 ? deadline - now : 10'000'000;
    timespec timeout{0, static_cast<long>(wait)};
    Futex(&answers, FUTEX_WAIT_PRIVATE, seen, &timeout);
  }
  for (uint32_t i = from; i < to; ++i) {
    uint32_t expected = ParkedThread::kRequested;
    base[i].state.compare_exchange_strong(expected, ParkedThread::kSkipped, std::memory_order_acq_rel);
  }
}

}  // namespace

ParkingResult ParkOtherThreads(int signo) {
  ParkingResult result;
  const uint64_t started = Now();
  ParkedThread* base = MapSlots();
  slots.store(base);
  const uint32_t session = (current_session.load(std::memory_order_relaxed) + 1) & 0xffffff;
  result.session = session ? session : 1;
  current_session.store(result.session, std::memory_order_release);
  const uint32_t self = static_cast<uint32_t>(syscall(SYS_gettid));
  const long pid = syscall(SYS_getpid);
  uint32_t listed = 0, exited = 0;
  bool listing_complete = false;
  for (int pass = 0; pass < kListingPasses; ++pass) {
    const uint32_t first = listed;
    ForEachTask([&](uint32_t tid) {
      if (tid == self) return;
      for (uint32_t i = 0; pass > 0 && i < first; ++i) {
        if (base[i].tid == tid) return;  // listed by an earlier pass
      }
      if (!base || listed == kMaxThreads) {
        ++result.skipped;
        return;
      }
      ParkedThread& slot = base[listed++];
      slot.tid = tid;
      slot.in_hook = 0;
      slot.stack_pointer = 0;
      if (signo == 0 || SignalBlocked(tid, signo)) {
        slot.state.store(ParkedThread::kSkipped, std::memory_order_relaxed);
        return;
      }
      slot.state.store(ParkedThread::kRequested, std::memory_order_release);
      siginfo_t info = {};
      info.si_signo = signo;
      info.si_code = SI_QUEUE;
      info.si_pid = static_cast<pid_t>(pid);
      info.si_uid = static_cast<uid_t>(syscall(SYS_getuid));
      info.si_value.sival_ptr = reinterpret_cast<void*>(kCookie << 48 | uint64_t{result.session} << 24 |
                                                        static_cast<uint64_t>(listed - 1));
      if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, signo, &info) != 0) {
        // ESRCH: the thread exited meanwhile. EAGAIN (the queued-signal limit): it runs on.
        exited += errno == ESRCH;
        slot.state.store(ParkedThread::kSkipped, std::memory_order_relaxed);
      }
    });
    if (listed == first) {  // no thread appeared since the last listing
      listing_complete = true;
      break;
    }
    AwaitAnswers(base, first, listed);
  }
  result.threads = base;
  result.listed = listed;
  for (uint32_t i = 0; i < listed; ++i) {
    if (base[i].state.load(std::memory_order_acquire) == ParkedThread::kParked) {
      ++result.parked;
      result.any_in_hook = result.any_in_hook || base[i].in_hook;
    } else {
      ++result.skipped;
    }
  }
  result.parking_ns = Now() - started;
  result.all_stopped = listing_complete && result.skipped == exited && !result.any_in_hook;
  if (base) {
    result.memory_begin = base;
    result.memory_end = base + kMaxThreads;
  }
  return result;
}

void ResumeThreads(const ParkingResult& result) {
  resumed.store(result.session);
  Futex(&resumed, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr);
  if (!result.threads) return;
  // A handler still inside copies registers or publishes them: a few instructions, unless the
  // thread is preempted or stopped there. Past the deadline the slots stay mapped (reserved memory,
  // left to the process's end) rather than pulled from under it.
  const uint64_t deadline = Now() + kAnswerTimeoutNs;
  while (inside.load() != 0) {
    if (Now() >= deadline) return;
    timespec nap{0, 100'000};
    syscall(SYS_nanosleep, &nap, nullptr);
  }
  slots.store(nullptr);
  syscall(SYS_munmap, result.threads, kSlotBytes);
}

bool ParkIfRequested(int signo, const siginfo_t* info, void* context, bool in_hook) {
  (void)signo;
  if (!info || info->si_code != SI_QUEUE) return false;
  const uint64_t value = reinterpret_cast<uint64_t>(info->si_value.sival_ptr);
  if (value >> 48 != kCookie || info->si_pid != static_cast<pid_t>(syscall(SYS_getpid))) return false;
  const int saved_errno = errno;
  const uint32_t session = static_cast<uint32_t>(value >> 24) & 0xffffff;
  const uint32_t index = static_cast<uint32_t>(value) & 0xffffff;
  bool parked = false;
  inside.fetch_add(1);
  // A request from a session already resumed (the signal was blocked until now) is dropped.
  ParkedThread* base = slots.load();
  if (base && index < kMaxThreads && session == current_session.load() && resumed.load() != session &&
      base[index].tid == static_cast<uint32_t>(syscall(SYS_gettid))) {
    ParkedThread& slot = base[index];
    SaveRegisters(slot, context);
    slot.in_hook = in_hook;
    uint32_t expected = ParkedThread::kRequested;
    parked = slot.state.compare_exchange_strong(expected, ParkedThread::kParked, std::memory_order_acq_rel);
  }
  inside.fetch_sub(1);  // no slot is touched from here on
  if (parked) {
    answers.fetch_add(1, std::memory_order_release);
    Futex(&answers, FUTEX_WAKE_PRIVATE, 1, nullptr);
    for (uint32_t now = resumed.load(); now != session; now = resumed.load()) {
      Futex(&resumed, FUTEX_WAIT_PRIVATE, now, nullptr);
    }
  }
  errno = saved_errno;
  return true;
}

}  // namespace memtrace::preload
