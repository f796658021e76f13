// Implementation of the edgec C API on the tvm-ffi C++ API: load the library, create the Relax
// VM from it ("vm_load_executable"), initialise it for the CPU, call "main".
#include "edgec_runtime.h"

#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace ffi = tvm::ffi;

namespace {

struct AlignedCPUAlloc {
  void AllocData(DLTensor* t) {
    size_t n = (ffi::GetDataSize(*t) + 63) / 64 * 64;
    t->data = std::aligned_alloc(64, n ? n : 64);
  }
  void FreeData(DLTensor* t) { std::free(t->data); }
};

bool ParseDType(const char* s, DLDataType* out) {
  struct Entry { const char* name; uint8_t code; uint8_t bits; };
  static const Entry table[] = {{"float32", kDLFloat, 32}, {"float16", kDLFloat, 16}, {"int64", kDLInt, 64},
                                {"int32", kDLInt, 32},     {"int8", kDLInt, 8},       {"uint8", kDLUInt, 8}};
  for (const Entry& e : table) {
    if (std::strcmp(s, e.name) == 0) {
      *out = DLDataType{e.code, e.bits, 1};
      return true;
    }
  }
  return false;
}

const char* DTypeName(DLDataType t) {
  if (t.code == kDLFloat && t.bits == 32) return "float32";
  if (t.code == kDLFloat && t.bits == 16) return "float16";
  if (t.code == kDLInt && t.bits == 64) return "int64";
  if (t.code == kDLInt && t.bits == 32) return "int32";
  if (t.code == kDLInt && t.bits == 8) return "int8";
  if (t.code == kDLUInt && t.bits == 8) return "uint8";
  if (t.code == kDLUInt && t.bits == 1) return "bool";
  return "unknown";
}

void SetErr(char* err, size_t len, const std::string& msg) {
  if (err && len) {
    std::strncpy(err, msg.c_str(), len - 1);
    err[len - 1] = '\0';
  }
}

}  // namespace

struct edgec_model {
  edgec_model(ffi::Module lib, ffi::Module vm, ffi::Function main)
      : lib(std::move(lib)), vm(std::move(vm)), main(std::move(main)) {}
  ffi::Module lib;  // keeps the code alive for the VM and for returned tensors' deleters
  ffi::Module vm;
  ffi::Function main;
  std::vector<ffi::Tensor> inputs;
  std::vector<ffi::Tensor> outputs;
};

// manifest.json next to the library, or "" when there is none.
static std::string ManifestNextTo(const std::string& library) {
  size_t slash = library.rfind('/');
  std::string path = (slash == std::string::npos ? std::string(".") : library.substr(0, slash)) + "/manifest.json";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return "";
  std::fclose(f);
  return path;
}

extern "C" edgec_model* edgec_load(const char* library_path, char* err, size_t err_len) {
  try {
    std::string manifest = ManifestNextTo(library_path);
    char why[768] = {0};
    if (!manifest.empty() && edgec_check_host(manifest.c_str(), why, sizeof(why)))
      throw std::runtime_error(why);  // before dlopen: no SIGILL from code this CPU cannot run
    ffi::Module lib = ffi::Module::LoadFromFile(library_path);
    ffi::Optional<ffi::Function> load = lib->GetFunction("vm_load_executable");
    if (!load.has_value()) throw std::runtime_error("not an edgec/TVM Relax library (no vm_load_executable)");
    ffi::Module vm = (*load)().cast<ffi::Module>();
    ffi::Optional<ffi::Function> init = vm->GetFunction("vm_initialization");
    if (!init.has_value()) throw std::runtime_error("VM has no vm_initialization");
    // One CPU device (kDLCPU, id 0) with TVM's pooled allocator (2); it is also the host.
    (*init)(static_cast<int>(kDLCPU), 0, 2);
    ffi::Optional<ffi::Function> main = vm->GetFunction("main");
    if (!main.has_value()) throw std::runtime_error("library has no main function");
    return new edgec_model(lib, vm, *main);
  } catch (const std::exception& e) {
    SetErr(err, err_len, std::string("cannot load ") + library_path + ": " + e.what());
    return nullptr;
  }
}

extern "C" int edgec_set_input(edgec_model* m, int index, const void* data, const int64_t* shape, int ndim,
                               const char* dtype, char* err, size_t err_len) {
  try {
    DLDataType dt;
    if (!ParseDType(dtype, &dt)) throw std::runtime_error(std::string("unsupported dtype ") + dtype);
    std::vector<int64_t> dims(shape, shape + ndim);
    ffi::Tensor t = ffi::Tensor::FromNDAlloc(AlignedCPUAlloc(), ffi::ShapeView(dims.data(), dims.size()), dt,
                                             DLDevice{kDLCPU, 0});
    std::memcpy(t.data_ptr(), data, ffi::GetDataSize(*t.GetDLTensorPtr()));
    if (index < 0) throw std::runtime_error("negative input index");
    if (static_cast<size_t>(index) >= m->inputs.size()) m->inputs.resize(index + 1);
    m->inputs[index] = t;
    return 0;
  } catch (const std::exception& e) {
    SetErr(err, err_len, e.what());
    return 1;
  }
}

static void RunOnce(edgec_model* m) {
  std::vector<ffi::AnyView> args(m->inputs.begin(), m->inputs.end());
  ffi::Any ret;
  m->main.CallPacked(args.data(), static_cast<int32_t>(args.size()), &ret);
  m->outputs.clear();
  if (auto t = ret.as<ffi::Tensor>()) {
    m->outputs.push_back(*t);
  } else if (auto arr = ret.as<ffi::Array<ffi::Any>>()) {
    for (const ffi::Any& item : *arr) m->outputs.push_back(item.cast<ffi::Tensor>());
  } else {
    throw std::runtime_error("main returned neither a tensor nor a tuple of tensors");
  }
}

extern "C" int edgec_run(edgec_model* m, char* err, size_t err_len) {
  try {
    RunOnce(m);
    return 0;
  } catch (const std::exception& e) {
    SetErr(err, err_len, e.what());
    return 1;
  }
}

extern "C" int edgec_num_outputs(const edgec_model* m) { return static_cast<int>(m->outputs.size()); }

extern "C" int edgec_get_output(const edgec_model* m, int index, const void** data, const int64_t** shape,
                                int* ndim, const char** dtype) {
  if (index < 0 || static_cast<size_t>(index) >= m->outputs.size()) return 1;
  const DLTensor* t = m->outputs[index].GetDLTensorPtr();
  *data = t->data;
  *shape = t->shape;
  *ndim = t->ndim;
  *dtype = DTypeName(t->dtype);
  return 0;
}

extern "C" int edgec_time(edgec_model* m, int repeat, int warmup, double* ms_out, char* err, size_t err_len) {
  try {
    for (int i = 0; i < warmup; ++i) RunOnce(m);
    for (int i = 0; i < repeat; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      RunOnce(m);
      ms_out[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    return 0;
  } catch (const std::exception& e) {
    SetErr(err, err_len, e.what());
    return 1;
  }
}

extern "C" void edgec_free(edgec_model* m) { delete m; }
