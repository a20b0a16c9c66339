# FrostSanitize.cmake -- FROST_SANITIZE=address (ASan + UBSan) or thread (TSan).
#
# Everything frost builds is instrumented. The stock CPython is not, so the
# Python suites preload the sanitizer runtime (FROST_SANITIZER_RUNTIME) and
# run with PYTHONMALLOC=malloc, so ASan sees CPython's allocations too.
set(FROST_SANITIZER_RUNTIME "")
if(FROST_SANITIZE STREQUAL "address")
  set(_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  set(_rt libasan.so)
elseif(FROST_SANITIZE STREQUAL "thread")
  set(_flags -fsanitize=thread -fno-omit-frame-pointer)
  set(_rt libtsan.so)
elseif(NOT FROST_SANITIZE STREQUAL "")
  message(FATAL_ERROR "FROST_SANITIZE must be address, thread or empty (got '${FROST_SANITIZE}')")
endif()
if(_flags)
  add_compile_options(${_flags})
  add_link_options(${_flags})
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=${_rt}
                  OUTPUT_VARIABLE FROST_SANITIZER_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
