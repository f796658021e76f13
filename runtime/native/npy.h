// Minimal .npy (format 1.0/2.0) reader and writer: little-endian, C order, the dtypes edgec
// models use. Enough to move tensors between a device and the host without Python there.
#ifndef EDGEC_NPY_H_
#define EDGEC_NPY_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace edgec_npy {

struct Array {
  std::string dtype;  // "float32", "int64", ...
  std::vector<int64_t> shape;
  std::vector<char> data;
};

inline std::string DescrToDType(const std::string& d) {
  if (d == "<f4") return "float32";
  if (d == "<f2") return "float16";
  if (d == "<i8") return "int64";
  if (d == "<i4") return "int32";
  if (d == "|i1") return "int8";
  if (d == "|u1") return "uint8";
  if (d == "|b1") return "bool";
  throw std::runtime_error("unsupported .npy dtype " + d);
}

inline std::string DTypeToDescr(const std::string& t) {
  if (t == "float32") return "<f4";
  if (t == "float16") return "<f2";
  if (t == "int64") return "<i8";
  if (t == "int32") return "<i4";
  if (t == "int8") return "|i1";
  if (t == "uint8") return "|u1";
  if (t == "bool") return "|b1";
  throw std::runtime_error("cannot write dtype " + t);
}

inline size_t ItemSize(const std::string& t) {
  if (t == "float32" || t == "int32") return 4;
  if (t == "float16") return 2;
  if (t == "int64") return 8;
  return 1;
}

inline std::string Field(const std::string& header, const std::string& key) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error(".npy header lacks " + key);
  size_t colon = header.find(':', k);
  size_t start = header.find_first_not_of(' ', colon + 1);
  if (header[start] == '\'') return header.substr(start + 1, header.find('\'', start + 1) - start - 1);
  if (header[start] == '(') return header.substr(start + 1, header.find(')', start) - start - 1);
  return header.substr(start, header.find_first_of(",}", start) - start);
}

inline Array Load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  char magic[8];
  f.read(magic, 8);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + " is not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h16;
    f.read(reinterpret_cast<char*>(&h16), 2);
    hlen = h16;
  } else {
    f.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, ' ');
  f.read(&header[0], hlen);
  if (Field(header, "fortran_order").find("True") != std::string::npos)
    throw std::runtime_error(path + ": Fortran-order arrays are not supported");
  Array a;
  a.dtype = DescrToDType(Field(header, "descr"));
  std::string dims = Field(header, "shape");
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t next = dims.find(',', pos);
    std::string tok = dims.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (tok.find_first_not_of(' ') != std::string::npos) a.shape.push_back(std::stoll(tok));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  size_t n = ItemSize(a.dtype);
  for (int64_t d : a.shape) n *= static_cast<size_t>(d);
  a.data.resize(n);
  f.read(a.data.data(), static_cast<std::streamsize>(n));
  if (static_cast<size_t>(f.gcount()) != n) throw std::runtime_error(path + " is truncated");
  return a;
}

inline void Save(const std::string& path, const std::string& dtype, const int64_t* shape, int ndim, const void* data) {
  std::string dims;
  size_t n = ItemSize(dtype);
  for (int i = 0; i < ndim; ++i) {
    dims += std::to_string(shape[i]) + (ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
    n *= static_cast<size_t>(shape[i]);
  }
  std::string header = "{'descr': '" + DTypeToDescr(dtype) + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::ofstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot write " + path);
  f.write("\x93NUMPY\x01\x00", 8);
  uint16_t hlen = static_cast<uint16_t>(header.size());
  f.write(reinterpret_cast<const char*>(&hlen), 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

}  // namespace edgec_npy
#endif  // EDGEC_NPY_H_
