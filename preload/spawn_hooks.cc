// posix_spawn and posix_spawnp: the call as a process event, and the mapping glibc makes for it.
//
// glibc (2.34 to 2.40, sysdeps/unix/sysv/linux/spawni.c, __spawnix) runs the child on a stack of its
// own, CLONE_VM|CLONE_VFORK: it maps the stack with its internal __mmap before the clone and unmaps it
// with __munmap after, so no hook sees either; strace -f shows the pair inside the call. A snapshot of
// /proc/self/maps around the call cannot see a mapping that is gone when the call returns, so the
// record carries it, derived from the call's arguments exactly as glibc sizes it:
//   length = ALIGN_UP(argc * sizeof(void*) + 512 + 32 KiB, page size), argc counting argv's NULL
//   prot   = PROT_READ|PROT_WRITE, plus PROT_EXEC when the loader made the stack executable (an object
//            without PT_GNU_STACK, or with an executable one)
//   flags  = MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK
// The mapping is made on every path except one: argv longer than INT_MAX - 1 entries (E2BIG before
// any mapping). An ENOMEM result may come from that mmap (nothing mapped) or from the clone (mapped
// and unmapped): it is counted as mapped, the common case of an exhausted clone. Its address is not
// known: the analyzer shows it as a transient mapping. The child itself runs only glibc-internal
// calls until its exec, so no hook runs there; its new image is traced through LD_PRELOAD and, given
// MEMTRACE_PARENT_TRACE with our pid, names this trace as its parent's.
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <spawn.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload/export.h"
#include "preload/hook_guard.h"
#include "preload/process_events.h"
#include "preload/real_functions.h"

using memtrace::format::Record;
using memtrace::format::RecordKind;
using namespace memtrace::preload;

namespace {

using SpawnFunction = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                              const posix_spawnattr_t*, char* const*, char* const*);

// dl_iterate_phdr callback: sets *executable if an object asks the loader for an executable stack.
int NeedsExecutableStack(dl_phdr_info* info, size_t, void* context) {
  auto* executable = static_cast<bool*>(context);
  // The vDSO is not loaded through the loader's stack-flag logic.
  if (info->dlpi_addr == getauxval(AT_SYSINFO_EHDR)) return 0;
  bool has_stack_note = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    if (info->dlpi_phdr[i].p_type != PT_GNU_STACK) continue;
    has_stack_note = true;
    if (info->dlpi_phdr[i].p_flags & PF_X) *executable = true;
  }
  if (!has_stack_note) *executable = true;  // the loader's default for x86-64 is PF_R|PF_W|PF_X
  return *executable ? 1 : 0;
}

void RecordSpawn(RecordKind kind, const char* path, char* const argv[], int result, pid_t child) {
  HookScope scope;
  if (!scope.active()) return;
  Record record;
  record.kind = kind;
  record.timestamp = NowNanoseconds();
  record.param = result;
  record.count = result == 0 ? static_cast<uint64_t>(child) : 0;
  if (path) {
    record.bytes = reinterpret_cast<const uint8_t*>(path);
    record.byte_count = static_cast<uint32_t>(strnlen(path, memtrace::format::kMaxMetaBytes));
  }
  uint64_t argc = 0;
  while (argv && argv[argc++] && argc < INT_MAX - 1) {
  }
  if (argv && !(argc == INT_MAX - 1 && result == E2BIG)) {
    uint64_t page = static_cast<uint64_t>(getpagesize());
    record.size = (argc * sizeof(void*) + 512 + 32 * 1024 + page - 1) / page * page;
    bool executable = false;
    {
      InternalWork work;  // dl_iterate_phdr takes the loader's lock; nothing it calls is ours to record
      dl_iterate_phdr(NeedsExecutableStack, &executable);
    }
    record.prot = PROT_READ | PROT_WRITE | (executable ? PROT_EXEC : 0);
    record.map_flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK;
  }
  scope.Emit(record);
}

int Spawn(RecordKind kind, SpawnFunction& slot, const char* name, pid_t* pid, const char* path,
          const posix_spawn_file_actions_t* actions, const posix_spawnattr_t* attributes, char* const argv[],
          char* const envp[]) {
  if (!slot) slot = reinterpret_cast<SpawnFunction>(dlsym(RTLD_NEXT, name));
  char* storage[kMaxEnvironment];
  char entry[4200];
  char* const* environment = EnvironmentForExec(envp, storage, kMaxEnvironment, entry, sizeof entry);
  pid_t child = 0;
  int result = slot(&child, path, actions, attributes, argv, environment);
  if (result == 0 && pid) *pid = child;
  int saved = errno;
  RecordSpawn(kind, path, argv, result, child);
  errno = saved;
  return result;
}

}  // namespace

extern "C" {

MEMTRACE_EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                                const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) {
  return Spawn(RecordKind::kPosixSpawn, real.posix_spawn, "posix_spawn", pid, path, actions, attributes, argv,
               envp);
}

MEMTRACE_EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                                 const posix_spawnattr_t* attributes, char* const argv[],
                                 char* const envp[]) {
  return Spawn(RecordKind::kPosixSpawnp, real.posix_spawnp, "posix_spawnp", pid, file, actions, attributes,
               argv, envp);
}

}  // extern "C"
