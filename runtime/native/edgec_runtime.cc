// Implementation of the edgec C API on the tvm-ffi C++ API: load the library, create the Relax
// VM from it ("vm_load_executable"), initialise it for the CPU, call "main".
#include "edgec_runtime.h"
#include "manifest.h"

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

struct DTypeEntry {
  const char* name;
  uint8_t code;
  uint8_t bits;
};
// runtime/manifest.py DTYPES; bool is TVM's 8-bit kDLBool (numpy's layout).
const DTypeEntry kDTypes[] = {{"float16", kDLFloat, 16}, {"float32", kDLFloat, 32}, {"float64", kDLFloat, 64},
                              {"int8", kDLInt, 8},       {"int16", kDLInt, 16},     {"int32", kDLInt, 32},
                              {"int64", kDLInt, 64},     {"uint8", kDLUInt, 8},     {"uint16", kDLUInt, 16},
                              {"uint32", kDLUInt, 32},   {"uint64", kDLUInt, 64},   {"bool", kDLBool, 8}};

bool ParseDType(const char* s, DLDataType* out) {
  if (!s) return false;
  for (const DTypeEntry& e : kDTypes) {
    if (std::strcmp(s, e.name) == 0) {
      *out = DLDataType{e.code, e.bits, 1};
      return true;
    }
  }
  return false;
}

const char* DTypeName(DLDataType t) {
  if (t.lanes != 1) return "unknown";
  for (const DTypeEntry& e : kDTypes)
    if (t.code == e.code && t.bits == e.bits) return e.name;
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
  edgec_model(ffi::Module lib, ffi::Module vm, ffi::Function main, edgec_manifest::Manifest manifest)
      : lib(std::move(lib)), vm(std::move(vm)), main(std::move(main)), manifest(std::move(manifest)) {}
  ffi::Module lib;  // keeps the code alive for the VM and for returned tensors' deleters
  ffi::Module vm;
  ffi::Function main;
  edgec_manifest::Manifest manifest;  // the signature inputs and outputs are held to
  std::vector<ffi::Tensor> inputs;
  std::vector<ffi::Tensor> outputs;
};

// manifest.json in the library's folder.
static std::string ManifestNextTo(const std::string& library) {
  size_t slash = library.rfind('/');
  return (slash == std::string::npos ? std::string(".") : library.substr(0, slash)) + "/manifest.json";
}

static std::string Describe(const DLTensor* t) {
  std::string s = std::string(DTypeName(t->dtype)) + "[";
  for (int i = 0; i < t->ndim; ++i) s += (i ? ", " : "") + std::to_string(t->shape[i]);
  return s + "]";
}

static bool Matches(const DLTensor* t, const edgec_manifest::TensorSpec& spec) {
  if (spec.dtype != DTypeName(t->dtype) || static_cast<size_t>(t->ndim) != spec.shape.size()) return false;
  for (int i = 0; i < t->ndim; ++i)
    if (t->shape[i] != spec.shape[i]) return false;
  return true;
}

extern "C" edgec_model* edgec_load(const char* library_path, char* err, size_t err_len) {
  if (!library_path) return SetErr(err, err_len, "no library path"), nullptr;
  try {
    // Everything is checked before dlopen runs a byte of the library (its constructors included):
    // the manifest's own hash, that it names this file, the file's sha256, then this CPU.
    std::string manifest_path = ManifestNextTo(library_path);
    edgec_manifest::Manifest manifest = edgec_manifest::Read(manifest_path);
    edgec_manifest::CheckLibrary(manifest, library_path);
    char why[768] = {0};
    if (edgec_check_host(manifest_path.c_str(), why, sizeof(why)))
      throw std::runtime_error(why);  // no SIGILL from code this CPU cannot run
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
    return new edgec_model(lib, vm, *main, std::move(manifest));
  } catch (const std::exception& e) {
    SetErr(err, err_len, std::string("cannot load ") + library_path + ": " + e.what());
    return nullptr;
  }
}

extern "C" int edgec_set_input(edgec_model* m, int index, const void* data, const int64_t* shape, int ndim,
                               const char* dtype, char* err, size_t err_len) {
  try {
    if (!m) throw std::runtime_error("no model");
    const std::vector<edgec_manifest::TensorSpec>& specs = m->manifest.inputs;
    if (index < 0 || static_cast<size_t>(index) >= specs.size())
      throw std::runtime_error("input index " + std::to_string(index) + " out of range: the model takes " +
                               std::to_string(specs.size()) + " input(s)");
    const edgec_manifest::TensorSpec& spec = specs[index];
    DLDataType dt;
    if (!ParseDType(dtype, &dt)) throw std::runtime_error(std::string("unsupported dtype ") + (dtype ? dtype : "(null)"));
    if (!data) throw std::runtime_error("no data");
    if (ndim < 0 || (ndim > 0 && !shape)) throw std::runtime_error("bad shape");
    std::vector<int64_t> dims(shape, shape + ndim);
    if (spec.dtype != dtype || dims != spec.shape) {
      edgec_manifest::TensorSpec got{spec.name, dtype, dims};
      throw std::runtime_error("input " + std::to_string(index) + " ('" + spec.name + "') is " + got.Describe() +
                               ", the model expects " + spec.Describe());
    }
    ffi::Tensor t = ffi::Tensor::FromNDAlloc(AlignedCPUAlloc(), ffi::ShapeView(dims.data(), dims.size()), dt,
                                             DLDevice{kDLCPU, 0});
    std::memcpy(t.data_ptr(), data, ffi::GetDataSize(*t.GetDLTensorPtr()));
    if (static_cast<size_t>(index) >= m->inputs.size()) m->inputs.resize(index + 1);
    m->inputs[index] = t;
    return 0;
  } catch (const std::exception& e) {
    SetErr(err, err_len, e.what());
    return 1;
  }
}

static void RunOnce(edgec_model* m) {
  if (!m) throw std::runtime_error("no model");
  const edgec_manifest::Manifest& man = m->manifest;
  if (m->inputs.size() != man.inputs.size())
    throw std::runtime_error("the model takes " + std::to_string(man.inputs.size()) + " input(s), " +
                             std::to_string(m->inputs.size()) + " were set");
  for (size_t i = 0; i < m->inputs.size(); ++i)
    if (!m->inputs[i].defined()) throw std::runtime_error("input " + std::to_string(i) + " was not set");
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
  // What came back must be what the manifest promises (runtime/session.py check_outputs).
  if (m->outputs.size() != man.outputs.size())
    throw std::runtime_error("the library returned " + std::to_string(m->outputs.size()) +
                             " output(s), the manifest promises " + std::to_string(man.outputs.size()));
  for (size_t i = 0; i < m->outputs.size(); ++i) {
    const DLTensor* t = m->outputs[i].GetDLTensorPtr();
    if (!Matches(t, man.outputs[i]))
      throw std::runtime_error("output '" + man.outputs[i].name + "' is " + Describe(t) + ", the manifest promises " +
                               man.outputs[i].Describe());
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

extern "C" int edgec_num_outputs(const edgec_model* m) { return m ? static_cast<int>(m->outputs.size()) : 0; }

extern "C" int edgec_get_output(const edgec_model* m, int index, const void** data, const int64_t** shape,
                                int* ndim, const char** dtype) {
  if (!m || index < 0 || static_cast<size_t>(index) >= m->outputs.size()) return 1;
  const DLTensor* t = m->outputs[index].GetDLTensorPtr();
  *data = t->data;
  *shape = t->shape;
  *ndim = t->ndim;
  *dtype = DTypeName(t->dtype);
  return 0;
}

extern "C" int edgec_time(edgec_model* m, int repeat, int warmup, double* ms_out, char* err, size_t err_len) {
  try {
    if (repeat < 0 || warmup < 0 || (repeat > 0 && !ms_out)) throw std::runtime_error("bad repeat/warmup");
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
