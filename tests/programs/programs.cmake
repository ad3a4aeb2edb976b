# Programs the end-to-end tests (tests/e2e) run under the preload. Each prints what it did, so a test
# can compare memtrace's account with the program's own.
find_package(Threads REQUIRED)

memtrace_test_program(malloc_loop SOURCES programs/malloc_loop.c OPTIONS -O2)
memtrace_test_program(threads_cross_free SOURCES programs/threads_cross_free.c LIBRARIES Threads::Threads OPTIONS -O2)
memtrace_test_program(leaky SOURCES programs/leaky.c OPTIONS -O0)
memtrace_test_program(crash_kill SOURCES programs/crash_kill.c OPTIONS -O0)
memtrace_test_program(static_hello SOURCES programs/static_hello.c OPTIONS -O2)
target_link_options(program_static_hello PRIVATE -static)
memtrace_test_program(stdout_exit SOURCES programs/stdout_exit.c OPTIONS -O2)
memtrace_test_program(errno_calls SOURCES programs/errno_calls.c OPTIONS -O0 -fno-builtin)
memtrace_test_program(brk_double_move SOURCES programs/brk_double_move.c OPTIONS -O2)
# vfork children that allocate in their parent's memory, and posix_spawn/posix_spawnp (test_vfork_spawn).
memtrace_test_program(vfork_children SOURCES programs/vfork_children.c LIBRARIES Threads::Threads OPTIONS -O1 -fno-builtin)
# The same, asking for an executable stack: glibc then maps posix_spawn's child stack PROT_EXEC too.
memtrace_test_program(vfork_children_execstack SOURCES programs/vfork_children.c LIBRARIES Threads::Threads OPTIONS -O1 -fno-builtin)
target_link_options(program_vfork_children_execstack PRIVATE -Wl,-z,execstack)
