# memtrace_e2e_test(module_name)
