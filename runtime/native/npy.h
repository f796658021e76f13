// Minimal .npy (format 1.0/2.0) reader and writer: little-endian, C order, the dtypes edgec
// models use. Enough to move tensors between a device and the host without Python there.
#ifndef EDGEC_NPY_H_
#define EDGEC_NPY_H_

#include <sys/stat.h>

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

struct DTypeCode {
  const char* name;
  const char* descr;
  size_t size;
};
// The dtypes of runtime/manifest.py DTYPES, as numpy writes them on a little-endian machine.
inline const std::vector<DTypeCode>& DTypeTable() {
  static const std::vector<DTypeCode> table = {
      {"float16", "<f2", 2}, {"float32", "<f4", 4}, {"float64", "<f8", 8}, {"int8", "|i1", 1},
      {"int16", "<i2", 2},   {"int32", "<i4", 4},   {"int64", "<i8", 8},   {"uint8", "|u1", 1},
      {"uint16", "<u2", 2},  {"uint32", "<u4", 4},  {"uint64", "<u8", 8},  {"bool", "|b1", 1}};
  return table;
}

inline std::string DescrToDType(const std::string& d) {
  for (const DTypeCode& c : DTypeTable())
    if (d == c.descr) return c.name;
  throw std::runtime_error("unsupported .npy dtype '" + d.substr(0, 16) + "' (little-endian numeric or bool only)");
}

inline std::string DTypeToDescr(const std::string& t) {
  for (const DTypeCode& c : DTypeTable())
    if (t == c.name) return c.descr;
  throw std::runtime_error("cannot write dtype " + t);
}

inline size_t ItemSize(const std::string& t) {
  for (const DTypeCode& c : DTypeTable())
    if (t == c.name) return c.size;
  throw std::runtime_error("unknown dtype " + t);
}

// The value of 'key' in a .npy header dict: a quoted string, a (tuple) or a bare word.
inline std::string Field(const std::string& header, const std::string& key) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error(".npy header lacks " + key);
  size_t colon = header.find(':', k);
  size_t start = colon == std::string::npos ? colon : header.find_first_not_of(' ', colon + 1);
  if (start == std::string::npos) throw std::runtime_error(".npy header: no value for " + key);
  size_t end;
  if (header[start] == '\'') {
    end = header.find('\'', start + 1);
    ++start;
  } else if (header[start] == '(') {
    end = header.find(')', start);
    ++start;
  } else {
    end = header.find_first_of(",}", start);
  }
  if (end == std::string::npos) throw std::runtime_error(".npy header: unterminated value for " + key);
  return header.substr(start, end - start);
}

// A .npy file, every field checked against the file itself: the header is bounded, each
// dimension is a non-negative integer, their product cannot overflow and the data is exactly as
// long as the header says (nothing is allocated for a size the file does not have).
inline Array Load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot open " + path);
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path + " is not a regular file");  // a FIFO would block
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  f.seekg(0, std::ios::end);
  std::streamoff file_size = f.tellg();
  f.seekg(0, std::ios::beg);
  if (!f || file_size < 10) throw std::runtime_error(path + " is not a .npy file (or not a regular file)");
  char magic[8];
  f.read(magic, 8);
  if (!f || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + " is not a .npy file");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h16 = 0;
    f.read(reinterpret_cast<char*>(&h16), 2);
    hlen = h16;
  } else if (magic[6] == 2 || magic[6] == 3) {
    f.read(reinterpret_cast<char*>(&hlen), 4);
  } else {
    throw std::runtime_error(path + ": unsupported .npy format version " + std::to_string(magic[6]));
  }
  if (!f || hlen > (1u << 16) || static_cast<std::streamoff>(hlen) > file_size)
    throw std::runtime_error(path + ": bad .npy header length");
  std::string header(hlen, ' ');
  if (hlen) f.read(&header[0], hlen);
  if (!f) throw std::runtime_error(path + " is truncated (header)");
  if (Field(header, "fortran_order").find("True") != std::string::npos)
    throw std::runtime_error(path + ": Fortran-order arrays are not supported");
  Array a;
  a.dtype = DescrToDType(Field(header, "descr"));
  std::string dims = Field(header, "shape");
  size_t pos = 0;
  while (pos < dims.size()) {
    size_t next = dims.find(',', pos);
    std::string tok = dims.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    size_t b = tok.find_first_not_of(' '), e = tok.find_last_not_of(' ');
    if (b != std::string::npos) {
      tok = tok.substr(b, e - b + 1);
      if (tok.empty() || tok.size() > 18 || tok.find_first_not_of("0123456789") != std::string::npos)
        throw std::runtime_error(path + ": bad .npy dimension '" + tok.substr(0, 20) + "'");
      a.shape.push_back(std::stoll(tok));
    } else if (next != std::string::npos) {
      throw std::runtime_error(path + ": bad .npy shape");
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  if (a.shape.size() > 32) throw std::runtime_error(path + ": more than 32 dimensions");
  uint64_t n = ItemSize(a.dtype);
  for (int64_t d : a.shape) {
    if (d != 0 && n > (uint64_t(1) << 62) / static_cast<uint64_t>(d)) throw std::runtime_error(path + ": shape overflows");
    n *= static_cast<uint64_t>(d);
  }
  uint64_t avail = static_cast<uint64_t>(file_size) - static_cast<uint64_t>(f.tellg());
  if (n > avail) throw std::runtime_error(path + " is truncated: the header promises " + std::to_string(n) +
                                          " data bytes, the file has " + std::to_string(avail));
  a.data.resize(static_cast<size_t>(n));
  if (n) f.read(a.data.data(), static_cast<std::streamsize>(n));
  if (static_cast<uint64_t>(f.gcount()) != n) throw std::runtime_error(path + " is truncated");
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
  f.close();
  if (!f) throw std::runtime_error("cannot write " + path + " (disk full?)");
}

}  // namespace edgec_npy
#endif  // EDGEC_NPY_H_
