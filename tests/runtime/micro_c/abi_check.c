/* edgec_plan.h's copies of the tvm-ffi / dlpack types must match the wheel's headers byte for byte. */
#include <stddef.h>

#include <tvm/ffi/c_api.h>

#include "edgec_plan.h"

#define SAME(a, b) _Static_assert((long)(a) == (long)(b), #a " != " #b)
SAME(sizeof(edgec_ffi_any), sizeof(TVMFFIAny));
SAME(offsetof(edgec_ffi_any, v), offsetof(TVMFFIAny, v_int64));
SAME(sizeof(edgec_dl_tensor), sizeof(DLTensor));
SAME(offsetof(edgec_dl_tensor, device), offsetof(DLTensor, device));
SAME(offsetof(edgec_dl_tensor, ndim), offsetof(DLTensor, ndim));
SAME(offsetof(edgec_dl_tensor, dtype), offsetof(DLTensor, dtype));
SAME(offsetof(edgec_dl_tensor, shape), offsetof(DLTensor, shape));
SAME(offsetof(edgec_dl_tensor, strides), offsetof(DLTensor, strides));
SAME(offsetof(edgec_dl_tensor, byte_offset), offsetof(DLTensor, byte_offset));
SAME(sizeof(edgec_dl_dtype), sizeof(DLDataType));
SAME(EDGEC_FFI_INT, kTVMFFIInt);
SAME(EDGEC_FFI_FLOAT, kTVMFFIFloat);
SAME(EDGEC_FFI_DLTENSOR, kTVMFFIDLTensorPtr);

int edgec_abi_check(void) { return 0; }
