// Thread parking against real threads of this test process: the registers captured are the ones the
// threads really hold, parked threads really stop, and threads that cannot answer are skipped in
// bounded time.
#include "preload/thread_parking.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace memtrace::preload {
namespace {

std::atomic<int> program_signals{0};  // signals the "program" saw: not parking requests

std::atomic<int> handler_calls{0};  // every signal the handler took

void Handler(int signo, siginfo_t* info, void* context) {
  handler_calls.fetch_add(1);
  if (ParkIfRequested(signo, info, context, /*in_hook=*/false)) return;
  program_signals.fetch_add(1);
}

// The signal memtrace would use, with a handler like memtrace's (every signal blocked while it runs).
int InstallHandler() {
  int signo = SIGRTMIN + 2;
  struct sigaction action = {};
  action.sa_sigaction = Handler;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&action.sa_mask);
  EXPECT_EQ(sigaction(signo, &action, nullptr), 0);
  return signo;
}

uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

struct Spinner {
  uint64_t magic = 0;
  std::atomic<uint32_t> tid{0};
  std::atomic<uint64_t> spins{0};
  std::atomic<uint64_t> stack_low{0}, stack_high{0};
  std::atomic<bool> stop{false};
  std::thread thread;

  void Start(uint64_t value) {
    magic = value;
    thread = std::thread([this] {
      pthread_attr_t attr;
      pthread_getattr_np(pthread_self(), &attr);
      void* low;
      size_t size;
      pthread_attr_getstack(&attr, &low, &size);
      pthread_attr_destroy(&attr);
      stack_low = reinterpret_cast<uint64_t>(low);
      stack_high = reinterpret_cast<uint64_t>(low) + size;
      uint64_t value = magic;
      tid = static_cast<uint32_t>(syscall(SYS_gettid));
      while (!stop.load(std::memory_order_relaxed)) {
        asm volatile("" : "+r"(value));  // the value lives in a register for the whole loop
        spins.fetch_add(1, std::memory_order_relaxed);
      }
    });
    while (!tid || !spins) std::this_thread::yield();
  }
  void Stop() {
    stop = true;
    thread.join();
  }
};

const ParkedThread* Find(const ParkingResult& r, uint32_t tid) {
  for (uint32_t i = 0; i < r.listed; ++i) {
    if (r.threads[i].tid == tid) return &r.threads[i];
  }
  return nullptr;
}

TEST(ThreadParkingTest, ParksSpinningThreadsAndSeesTheirRegisters) {
  int signo = InstallHandler();
  std::vector<Spinner> spinners(4);
  for (size_t i = 0; i < spinners.size(); ++i) spinners[i].Start(0x5eed0000cafe0000ull + i * 0x1111);
  ParkingResult r = ParkOtherThreads(signo);
  EXPECT_EQ(r.parked, spinners.size());
  EXPECT_EQ(r.skipped, 0u);
  EXPECT_TRUE(r.all_stopped);
  EXPECT_LT(r.parking_ns, kAnswerTimeoutNs);
  // Parked means stopped: no spinner moves while parked.
  uint64_t before[4];
  for (size_t i = 0; i < spinners.size(); ++i) before[i] = spinners[i].spins.load();
  timespec nap{0, 20'000'000};
  nanosleep(&nap, nullptr);
  for (size_t i = 0; i < spinners.size(); ++i) {
    EXPECT_EQ(spinners[i].spins.load(), before[i]) << "spinner " << i << " ran while parked";
    const ParkedThread* t = Find(r, spinners[i].tid);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->state.load(), ParkedThread::kParked);
    bool found = false;
    for (uint64_t word : t->registers) found = found || word == spinners[i].magic;
    EXPECT_TRUE(found) << "spinner " << i << "'s register value was not captured";
    EXPECT_GT(t->stack_pointer, spinners[i].stack_low.load());
    EXPECT_LT(t->stack_pointer, spinners[i].stack_high.load());
  }
  ResumeThreads(r);
  for (size_t i = 0; i < spinners.size(); ++i) {
    while (spinners[i].spins.load() == before[i])
      std::this_thread::yield();  // hangs (test timeout) if not resumed
    spinners[i].Stop();
  }
  EXPECT_EQ(program_signals.load(), 0);
}

TEST(ThreadParkingTest, ThreadBlockingTheSignalIsSkippedWithoutWaiting) {
  int signo = InstallHandler();
  std::atomic<bool> ready{false}, stop{false};
  std::thread blocker([&] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    ready = true;
    while (!stop) std::this_thread::yield();
  });
  while (!ready) std::this_thread::yield();
  uint64_t started = NowNs();
  ParkingResult r = ParkOtherThreads(signo);
  uint64_t took = NowNs() - started;
  EXPECT_EQ(r.parked, 0u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_FALSE(r.all_stopped);
  EXPECT_LT(took, kAnswerTimeoutNs);  // seen in /proc SigBlk: never sent, never waited for
  ResumeThreads(r);
  stop = true;
  blocker.join();
  // Nothing pending was left behind for the thread to find later.
  EXPECT_EQ(program_signals.load(), 0);
}

TEST(ThreadParkingTest, ThreadThatNeverAnswersIsSkippedAfterTheTimeout) {
  // A handler that is not memtrace's: the request reaches the thread, which never parks. (The
  // program's own handler seeing the signal is what ParkingSignal avoids in the preload.)
  int signo = SIGRTMIN + 3;
  struct sigaction action = {};
  action.sa_handler = [](int) {};
  action.sa_flags = SA_RESTART;
  sigaction(signo, &action, nullptr);
  Spinner spinner;
  spinner.Start(1);
  uint64_t started = NowNs();
  ParkingResult r = ParkOtherThreads(signo);
  uint64_t took = NowNs() - started;
  EXPECT_EQ(r.parked, 0u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_GE(took, kAnswerTimeoutNs);
  EXPECT_LT(took, 4 * kAnswerTimeoutNs);
  ResumeThreads(r);
  spinner.Stop();
}

TEST(ThreadParkingTest, RequestAnsweredAfterItsSessionTouchesNothing) {
  // A thread in vfork() takes signals only once its child is gone: here 300 ms later, after the
  // session timed out, resumed and unmapped its slots. The handler must then drop the request.
  int signo = InstallHandler();
  program_signals = 0;
  std::atomic<bool> in_vfork{false};
  std::atomic<int> child_status{-1};
  std::thread parent([&] {
    in_vfork = true;
    pid_t child = vfork();
    if (child == 0) {
      timespec nap{0, 300'000'000};
      syscall(SYS_nanosleep, &nap, nullptr);
      _exit(7);
    }
    int status = 0;
    waitpid(child, &status, 0);
    child_status = status;
  });
  while (!in_vfork) std::this_thread::yield();
  timespec settle{0, 50'000'000};
  nanosleep(&settle, nullptr);  // the thread waits for its vfork child now
  ParkingResult r = ParkOtherThreads(signo);
  EXPECT_EQ(r.parked, 0u);
  EXPECT_EQ(r.skipped, 1u);
  handler_calls = 0;
  ResumeThreads(r);
  parent.join();  // the late request was taken and dropped: the thread went on
  EXPECT_TRUE(WIFEXITED(child_status.load()) && WEXITSTATUS(child_status.load()) == 7);
  EXPECT_EQ(handler_calls.load(), 1);    // delivered once the child was gone...
  EXPECT_EQ(program_signals.load(), 0);  // ...and recognised as memtrace's
}

TEST(ThreadParkingTest, BlockedReadRestartsAfterResume) {
  int signo = InstallHandler();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<long> got{-2};
  std::atomic<int> error{0};
  std::thread reader([&] {
    char c;
    long n = read(fds[0], &c, 1);
    error = errno;
    got = n;
  });
  timespec nap{0, 20'000'000};
  nanosleep(&nap, nullptr);  // the reader is blocked in read() now
  ParkingResult r = ParkOtherThreads(signo);
  EXPECT_EQ(r.parked, 1u);
  ResumeThreads(r);
  nanosleep(&nap, nullptr);
  EXPECT_EQ(got.load(), -2) << "read returned after the parking signal, errno " << error.load();
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  reader.join();
  EXPECT_EQ(got.load(), 1);
  close(fds[0]);
  close(fds[1]);
}

TEST(ThreadParkingTest, OtherSignalsAreNotRequests) {
  int signo = InstallHandler();
  program_signals = 0;
  union sigval value;
  value.sival_ptr = reinterpret_cast<void*>(0x1234);
  ASSERT_EQ(sigqueue(getpid(), signo, value), 0);  // the program's own queued signal
  ASSERT_EQ(kill(getpid(), signo), 0);
  EXPECT_EQ(program_signals.load(), 2);
}

TEST(ThreadParkingTest, WithoutASignalEveryThreadIsSkipped) {
  Spinner spinner;
  spinner.Start(2);
  ParkingResult r = ParkOtherThreads(0);
  EXPECT_EQ(r.parked, 0u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_FALSE(r.all_stopped);
  ResumeThreads(r);
  spinner.Stop();
}

TEST(ThreadParkingTest, AloneThereIsNothingToPark) {
  ParkingResult r = ParkOtherThreads(InstallHandler());
  EXPECT_EQ(r.listed, 0u);
  EXPECT_EQ(r.parked + r.skipped, 0u);
  EXPECT_TRUE(r.all_stopped);
  ResumeThreads(r);
}

}  // namespace
}  // namespace memtrace::preload
