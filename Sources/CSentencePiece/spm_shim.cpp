#include "spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct spm_processor {
    sentencepiece::SentencePieceProcessor sp;
};

static char *copy_string(const std::string &s) {
    char *out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out) {
        std::memcpy(out, s.data(), s.size());
        out[s.size()] = '\0';
    }
    return out;
}

static spm_processor *finish_load(spm_processor *p, const sentencepiece::util::Status &status, char **error) {
    if (!status.ok()) {
        if (error) *error = copy_string(status.ToString());
        delete p;
        return nullptr;
    }
    return p;
}

extern "C" {

spm_processor *spm_load(const char *path, char **error) {
    auto *p = new spm_processor();
    return finish_load(p, p->sp.Load(path), error);
}

spm_processor *spm_load_from_bytes(const char *bytes, size_t length, char **error) {
    auto *p = new spm_processor();
    return finish_load(p, p->sp.LoadFromSerializedProto(std::string(bytes, length)), error);
}

void spm_free(spm_processor *p) { delete p; }
void spm_free_string(char *s) { std::free(s); }

int32_t spm_vocab_size(const spm_processor *p) { return p->sp.GetPieceSize(); }
int32_t spm_bos_id(const spm_processor *p) { return p->sp.bos_id(); }
int32_t spm_eos_id(const spm_processor *p) { return p->sp.eos_id(); }
int32_t spm_pad_id(const spm_processor *p) { return p->sp.pad_id(); }
int32_t spm_unk_id(const spm_processor *p) { return p->sp.unk_id(); }

int32_t spm_piece_to_id(const spm_processor *p, const char *piece) { return p->sp.PieceToId(piece); }
char *spm_id_to_piece(const spm_processor *p, int32_t id) { return copy_string(p->sp.IdToPiece(id)); }
int spm_is_byte(const spm_processor *p, int32_t id) { return p->sp.IsByte(id) ? 1 : 0; }
int spm_is_control(const spm_processor *p, int32_t id) { return p->sp.IsControl(id) ? 1 : 0; }

int64_t spm_encode(const spm_processor *p, const char *text, size_t length, int32_t *ids, int64_t capacity) {
    std::vector<int> out;
    if (!p->sp.Encode(std::string(text, length), &out).ok()) return -1;
    for (int64_t i = 0; i < (int64_t)out.size() && i < capacity; i++) ids[i] = out[i];
    return (int64_t)out.size();
}

int64_t spm_encode_with_offsets(const spm_processor *p, const char *text, size_t length, int32_t *ids,
                                uint32_t *begins, uint32_t *ends, int64_t capacity) {
    const auto spt = p->sp.EncodeAsImmutableProto(std::string_view(text, length));
    const auto pieces = spt.pieces();
    const int64_t n = (int64_t)pieces.size();
    for (int64_t i = 0; i < n && i < capacity; i++) {
        ids[i] = pieces[i].id();
        begins[i] = pieces[i].begin();
        ends[i] = pieces[i].end();
    }
    return n;
}

char *spm_decode(const spm_processor *p, const int32_t *ids, int64_t count) {
    std::vector<int> in(ids, ids + count);
    std::string text;
    if (!p->sp.Decode(in, &text).ok()) return nullptr;
    return copy_string(text);
}

}  // extern "C"
