# FrostPython.cmake -- find a CPython >= 3.12 (per-interpreter GIL) with
# headers and, for the embedded tests, a shared libpython.
#
# Order: -DPython_EXECUTABLE=..., then $FROST_PYTHON, then the newest
# python3.13 / python3.12 on PATH or under $PYENV_ROOT/versions (~/.pyenv).
# When none is found, configuration stops and says what to install.
set(_frost_need_embed OFF)
if(FROST_BUILD_TESTS OR FROST_BUILD_BENCH)   # GoogleTests and bench/micro_bench embed CPython
  set(_frost_need_embed ON)
endif()

if(NOT Python_EXECUTABLE AND DEFINED ENV{FROST_PYTHON} AND NOT "$ENV{FROST_PYTHON}" STREQUAL "")
  set(Python_EXECUTABLE "$ENV{FROST_PYTHON}" CACHE FILEPATH "CPython >= 3.12 to build against")
endif()

if(NOT Python_EXECUTABLE)
  set(_roots "")
  if(DEFINED ENV{PYENV_ROOT})
    list(APPEND _roots "$ENV{PYENV_ROOT}")
  endif()
  if(DEFINED ENV{HOME})
    list(APPEND _roots "$ENV{HOME}/.pyenv")
  endif()
  foreach(minor 14 13 12)
    set(_hints "")
    foreach(root IN LISTS _roots)
      file(GLOB _dirs LIST_DIRECTORIES true "${root}/versions/3.${minor}.*/bin")
      foreach(d IN LISTS _dirs)
        if(NOT d MATCHES "t/bin$")      # skip free-threaded 3.13t builds
          list(APPEND _hints "${d}")
        endif()
      endforeach()
    endforeach()
    unset(_frost_candidate CACHE)
    find_program(_frost_candidate NAMES python3.${minor} HINTS ${_hints} NO_CACHE)
    if(_frost_candidate)
      execute_process(COMMAND "${_frost_candidate}" -c "import sys; print(sys.version_info >= (3, 12))"
                      OUTPUT_VARIABLE _ok OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(_ok STREQUAL "True")
        set(Python_EXECUTABLE "${_frost_candidate}" CACHE FILEPATH "CPython >= 3.12 to build against")
        break()
      endif()
    endif()
  endforeach()
endif()

set(_components Interpreter Development.Module)
if(_frost_need_embed)
  list(APPEND _components Development.Embed)
endif()
find_package(Python 3.12 COMPONENTS ${_components})

if(NOT Python_FOUND)
  message(FATAL_ERROR
    "frost needs CPython >= 3.12 (own GIL per subinterpreter) with its headers"
    " and a shared libpython for the tests.\n"
    "None was found (looked at -DPython_EXECUTABLE, $FROST_PYTHON, python3.14/3.13/3.12 "
    "on PATH and under $PYENV_ROOT/versions).\n"
    "Install one, e.g.:\n"
    "  Debian/Ubuntu:  apt-get install python3.12-dev   (or python3.13-dev)\n"
    "  pyenv:          env PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.13\n"
    "then re-run with -DPython_EXECUTABLE=/path/to/python3.12 or FROST_PYTHON=/path/to/python.")
endif()
if(Python_INTERPRETER_ID STREQUAL "PyPy")
  message(FATAL_ERROR "frost is a CPython extension; ${Python_EXECUTABLE} is PyPy.")
endif()
execute_process(COMMAND "${Python_EXECUTABLE}" -c "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED') or 0)"
                OUTPUT_VARIABLE _ft OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_ft STREQUAL "1")
  message(FATAL_ERROR "${Python_EXECUTABLE} is a free-threaded build; frost needs the default (GIL) build.")
endif()

# Where the embedded interpreter of the GoogleTests finds its stdlib.
execute_process(COMMAND "${Python_EXECUTABLE}" -c "import sys; print(sys.base_prefix)"
                OUTPUT_VARIABLE FROST_PYTHON_HOME OUTPUT_STRIP_TRAILING_WHITESPACE)
# Whether the Python suites can run under pytest (else plain unittest).
execute_process(COMMAND "${Python_EXECUTABLE}" -c "import pytest"
                RESULT_VARIABLE _no_pytest OUTPUT_QUIET ERROR_QUIET)
if(_no_pytest)
  set(FROST_HAVE_PYTEST OFF)
else()
  set(FROST_HAVE_PYTEST ON)
endif()
