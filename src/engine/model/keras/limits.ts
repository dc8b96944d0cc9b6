/** Bounds on what an untrusted Keras file may make the reader allocate. */

/** Total bytes the entries of a .keras archive may expand to. */
export const MAX_ARCHIVE_EXPANSION = 2 * 1024 ** 3;
/** Largest expansion ratio of one archive entry (Keras stores its entries uncompressed: 1×). */
export const MAX_ENTRY_RATIO = 100;
/** Entries past this size are held to MAX_ENTRY_RATIO (tiny JSON files compress well). */
export const RATIO_CHECK_FROM = 1024 ** 2;
/** Entries a .keras archive may list (Keras writes three, plus folders of assets). */
export const MAX_ARCHIVE_ENTRIES = 10_000;
/** Total weight bytes decoded from HDF5 (float32). */
export const MAX_WEIGHT_BYTES = 2 * 1024 ** 3;
/** How far an HDF5 filter (deflate) can expand data: deflate's own bound is about 1032:1. */
export const MAX_FILTER_RATIO = 1100;
/** Largest model file read at all. */
export const MAX_FILE_BYTES = 4 * 1024 ** 3;
/** Largest config JSON (config.json or the model_config attribute). */
export const MAX_CONFIG_BYTES = 64 * 1024 ** 2;
