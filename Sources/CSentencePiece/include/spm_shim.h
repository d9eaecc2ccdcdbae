// A C interface over sentencepiece::SentencePieceProcessor, for Swift.
// Strings returned through `spm_*_string` are malloc'd; free them with `spm_free_string`.
#ifndef SPM_SHIM_H
#define SPM_SHIM_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_processor spm_processor;

/// Loads a model from a file. Returns NULL and writes a malloc'd message to *error on failure.
spm_processor *spm_load(const char *path, char **error);
/// Loads a model from serialized ModelProto bytes.
spm_processor *spm_load_from_bytes(const char *bytes, size_t length, char **error);
void spm_free(spm_processor *p);
void spm_free_string(char *s);

int32_t spm_vocab_size(const spm_processor *p);
int32_t spm_bos_id(const spm_processor *p);
int32_t spm_eos_id(const spm_processor *p);
int32_t spm_pad_id(const spm_processor *p);
int32_t spm_unk_id(const spm_processor *p);
/// Piece id, or the unknown id when absent.
int32_t spm_piece_to_id(const spm_processor *p, const char *piece);
/// A malloc'd copy of the piece's text.
char *spm_id_to_piece(const spm_processor *p, int32_t id);
int spm_is_byte(const spm_processor *p, int32_t id);
int spm_is_control(const spm_processor *p, int32_t id);

/// Encodes UTF-8 text. Writes at most `capacity` ids and returns the total count
/// (call again with a larger buffer when it exceeds `capacity`); -1 on error.
int64_t spm_encode(const spm_processor *p, const char *text, size_t length, int32_t *ids, int64_t capacity);
/// As spm_encode, and also writes each piece's byte range [begins[i], ends[i]) in `text`.
int64_t spm_encode_with_offsets(const spm_processor *p, const char *text, size_t length, int32_t *ids,
                                uint32_t *begins, uint32_t *ends, int64_t capacity);
/// Decodes ids into a malloc'd UTF-8 string; NULL on error.
char *spm_decode(const spm_processor *p, const int32_t *ids, int64_t count);

#ifdef __cplusplus
}
#endif
#endif
