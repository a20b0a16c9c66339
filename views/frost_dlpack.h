/*
 * frost_dlpack.h -- the DLPack ABI (dmlc/dlpack, include/dlpack/dlpack.h,
 * v1.0), the few declarations frost needs, written out here: the structs are a
 * stable ABI, so they need no vendored header.
 *
 * Two capsule kinds (Python array API standard, "__dlpack__"):
 *   "dltensor_versioned" -> DLManagedTensorVersioned (DLPack >= 1.0; has flags,
 *                           so it can say read-only);
 *   "dltensor"           -> DLManagedTensor (legacy; no flags).
 * A consumer renames the capsule to "used_dltensor[_versioned]" when it takes
 * the tensor, and calls its deleter when done; a capsule never consumed calls
 * the deleter from its destructor.
 */
#ifndef FROST_DLPACK_H
#define FROST_DLPACK_H

#include <stdint.h>

#define FROST_DLPACK_MAJOR 1
#define FROST_DLPACK_MINOR 0

enum { FROST_kDLCPU = 1 };

enum {
    FROST_kDLInt = 0,
    FROST_kDLUInt = 1,
    FROST_kDLFloat = 2,
    FROST_kDLComplex = 5,
    FROST_kDLBool = 6,
};

#define FROST_DLPACK_FLAG_READ_ONLY (UINT64_C(1) << 0)
#define FROST_DLPACK_FLAG_IS_COPIED (UINT64_C(1) << 1)

typedef struct {
    int32_t device_type;    /* DLDeviceType (an int-sized C enum) */
    int32_t device_id;
} frost_DLDevice;

typedef struct {
    uint8_t code;           /* FROST_kDL* */
    uint8_t bits;
    uint16_t lanes;
} frost_DLDataType;

typedef struct {
    void *data;
    frost_DLDevice device;
    int32_t ndim;
    frost_DLDataType dtype;
    int64_t *shape;         /* ndim extents */
    int64_t *strides;       /* ndim strides in items (not bytes) */
    uint64_t byte_offset;
} frost_DLTensor;

typedef struct frost_DLManagedTensor {
    frost_DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct frost_DLManagedTensor *self);
} frost_DLManagedTensor;

typedef struct {
    uint32_t major;
    uint32_t minor;
} frost_DLPackVersion;

typedef struct frost_DLManagedTensorVersioned {
    frost_DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct frost_DLManagedTensorVersioned *self);
    uint64_t flags;
    frost_DLTensor dl_tensor;
} frost_DLManagedTensorVersioned;

#endif /* FROST_DLPACK_H */
