// frost_test_python.hpp -- an embedded interpreter for GoogleTests that need
// CPython (one testing::Environment per test binary), plus small RAII helpers.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <gtest/gtest.h>

namespace frost_test {

class PythonEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { Py_InitializeEx(0); }
  void TearDown() override { ASSERT_EQ(Py_FinalizeEx(), 0); }
};

// A strong reference, released on scope exit.
class Ref {
 public:
  explicit Ref(PyObject *o = nullptr) : o_(o) {}
  Ref(const Ref &) = delete;
  Ref &operator=(const Ref &) = delete;
  ~Ref() { Py_XDECREF(o_); }
  PyObject *get() const { return o_; }
  explicit operator bool() const { return o_ != nullptr; }

 private:
  PyObject *o_;
};

// Evaluate a Python expression in a fresh namespace (new reference or NULL).
inline PyObject *Eval(const char *expr) {
  Ref globals(PyDict_New());
  PyDict_SetItemString(globals.get(), "__builtins__", PyEval_GetBuiltins());
  return PyRun_String(expr, Py_eval_input, globals.get(), globals.get());
}

}  // namespace frost_test
