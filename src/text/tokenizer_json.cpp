// Hugging Face's tokenizer.json: the model (WordPiece or byte-level BPE), added tokens, and
// the pipeline kinds BERT, GPT-2 and RoBERTa use. A kind Ember does not run throws, naming the
// field, rather than giving ids that differ from Hugging Face's.
#include <fstream>
#include <sstream>

#include "../io/json.hpp"
#include "ember/error.hpp"
#include "ember/text/bpe.hpp"
#include "ember/text/wordpiece.hpp"

namespace ember::text {

namespace {

using io::json::Value;
using Kind = Value::Kind;

struct Reader {
  std::string path;

  [[noreturn]] void fail(const std::string& what) const { throw ValueError(path + ": " + what); }
  const Value* get(const Value& v, const std::string& key) const {
    const Value* m = io::json::find(v, key);
    return m && m->kind != Kind::Null ? m : nullptr;
  }
  const Value& need(const Value& v, const std::string& key, Kind kind,
                    const std::string& field) const {
    const Value* m = get(v, key);
    if (!m || m->kind != kind) fail("field '" + field + "' is missing or has the wrong type");
    return *m;
  }
  std::string type_of(const Value* v, const std::string& field) const {
    if (!v) return "";
    if (v->kind != Kind::Object) fail("field '" + field + "' must be an object");
    return need(*v, "type", Kind::String, field + ".type").string;
  }
  bool flag(const Value& v, const std::string& key, bool fallback) const {
    const Value* m = get(v, key);
    return m && m->kind == Kind::Bool ? m->boolean : fallback;
  }
  [[noreturn]] void unsupported(const std::string& field, const std::string& kind,
                                const std::string& supported) const {
    fail(field + " '" + kind + "' is not supported (Ember reads " + supported + ")");
  }

  // model.vocab {"token": id} widened by the added tokens to one token per id.
  std::vector<std::string> vocab(const Value& model, const Value* added) const {
    const Value& v = need(model, "vocab", Kind::Object, "model.vocab");
    std::vector<std::pair<int64_t, std::string>> by_id;
    for (const auto& [token, id] : v.object) {
      if (id.kind != Kind::Number || id.number < 0)
        fail("model.vocab: token '" + token + "' has no valid id");
      by_id.emplace_back(static_cast<int64_t>(id.number), token);
    }
    if (added)
      for (const Value& t : added->array)
        by_id.emplace_back(
            static_cast<int64_t>(need(t, "id", Kind::Number, "added_tokens.id").number),
            need(t, "content", Kind::String, "added_tokens.content").string);
    int64_t size = 0;
    for (const auto& p : by_id) size = std::max(size, p.first + 1);
    std::vector<std::string> tokens(static_cast<size_t>(size));
    std::vector<bool> set(tokens.size(), false);
    for (const auto& [id, token] : by_id) {
      auto& slot = tokens[static_cast<size_t>(id)];
      if (set[static_cast<size_t>(id)] && slot != token)
        fail("id " + std::to_string(id) + " is both '" + slot + "' and '" + token + "'");
      slot = token;
      set[static_cast<size_t>(id)] = true;
    }
    for (size_t i = 0; i < set.size(); ++i)
      if (!set[i]) fail("model.vocab has no token with id " + std::to_string(i));
    return tokens;
  }

  std::vector<TemplatePiece> pieces(const Value& list, const std::string& field) const {
    std::vector<TemplatePiece> out;
    for (const Value& p : list.array) {
      if (const Value* s = get(p, "SpecialToken"))
        out.push_back({need(*s, "id", Kind::String, field + ".SpecialToken.id").string, 0,
                       static_cast<int64_t>(need(*s, "type_id", Kind::Number, field).number)});
      else if (const Value* q = get(p, "Sequence"))
        out.push_back({"", need(*q, "id", Kind::String, field + ".Sequence.id").string == "B",
                       static_cast<int64_t>(need(*q, "type_id", Kind::Number, field).number)});
      else
        fail(field + ": each piece must be a SpecialToken or a Sequence");
    }
    return out;
  }

  // post_processor: what encode adds around one sequence or a pair.
  std::optional<PostProcessor> post_processor(const Value& doc) const {
    const Value* p = get(doc, "post_processor");
    std::string kind = type_of(p, "post_processor");
    if (kind.empty() || kind == "ByteLevel")
      return PostProcessor{{{"", 0, 0}}, {{"", 0, 0}, {"", 1, 1}}};
    if (kind == "TemplateProcessing")
      return PostProcessor{
          pieces(need(*p, "single", Kind::Array, "post_processor.single"), "post_processor.single"),
          pieces(need(*p, "pair", Kind::Array, "post_processor.pair"), "post_processor.pair")};
    if (kind == "BertProcessing" || kind == "RobertaProcessing") {
      std::string cls = need(*p, "cls", Kind::Array, "post_processor.cls").array.at(0).string;
      std::string sep = need(*p, "sep", Kind::Array, "post_processor.sep").array.at(0).string;
      if (kind == "BertProcessing")
        return PostProcessor{{{cls, 0, 0}, {"", 0, 0}, {sep, 0, 0}},
                             {{cls, 0, 0}, {"", 0, 0}, {sep, 0, 0}, {"", 1, 1}, {sep, 0, 1}}};
      return PostProcessor{
          {{cls, 0, 0}, {"", 0, 0}, {sep, 0, 0}},
          {{cls, 0, 0}, {"", 0, 0}, {sep, 0, 0}, {sep, 0, 0}, {"", 1, 0}, {sep, 0, 0}}};
    }
    unsupported("post_processor.type", kind,
                "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel or null");
  }

  std::unique_ptr<Tokenizer> wordpiece(const Value& doc, const Value& model) const {
    WordPieceOptions o;
    if (const Value* u = get(model, "unk_token")) o.unk_token = u->string;
    if (const Value* p = get(model, "continuing_subword_prefix"))
      o.continuing_subword_prefix = p->string;
    if (const Value* m = get(model, "max_input_chars_per_word"))
      o.max_input_chars_per_word = static_cast<int64_t>(m->number);
    const Value* n = get(doc, "normalizer");
    std::string kind = type_of(n, "normalizer");
    if (kind == "BertNormalizer") {
      o.clean_text = flag(*n, "clean_text", true);
      o.tokenize_chinese_chars = flag(*n, "handle_chinese_chars", true);
      o.lower_case = flag(*n, "lowercase", true);
      if (const Value* s = get(*n, "strip_accents")) o.strip_accents = s->boolean;
    } else if (kind.empty()) {
      o.lower_case = false;
      o.clean_text = o.tokenize_chinese_chars = false;
      o.strip_accents = false;
    } else {
      unsupported("normalizer.type", kind, "BertNormalizer or null for WordPiece");
    }
    std::string pre = type_of(get(doc, "pre_tokenizer"), "pre_tokenizer");
    if (pre != "BertPreTokenizer")
      unsupported("pre_tokenizer.type", pre.empty() ? "null" : pre,
                  "BertPreTokenizer for WordPiece");
    std::string dec = type_of(get(doc, "decoder"), "decoder");
    if (!dec.empty() && dec != "WordPiece")
      unsupported("decoder.type", dec, "WordPiece or null for WordPiece");
    return std::make_unique<WordPieceTokenizer>(vocab(model, get(doc, "added_tokens")), o);
  }

  std::unique_ptr<Tokenizer> bpe(const Value& doc, const Value& model) const {
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (const Value* v = get(model, key); v && !v->string.empty())
        fail(std::string("model.") + key + " '" + v->string +
             "' is not supported (Ember's BPE is byte-level as GPT-2's)");
    if (flag(model, "byte_fallback", false))
      fail("model.byte_fallback true is not supported (Ember's BPE is byte-level as GPT-2's)");
    if (std::string n = type_of(get(doc, "normalizer"), "normalizer"); !n.empty())
      unsupported("normalizer.type", n, "null for byte-level BPE");
    const Value* pre = get(doc, "pre_tokenizer");
    std::string kind = type_of(pre, "pre_tokenizer");
    if (kind != "ByteLevel")
      unsupported("pre_tokenizer.type", kind.empty() ? "null" : kind, "ByteLevel for BPE");
    if (!flag(*pre, "use_regex", true))
      fail("pre_tokenizer.use_regex false is not supported (Ember splits with GPT-2's pattern)");
    std::string dec = type_of(get(doc, "decoder"), "decoder");
    if (!dec.empty() && dec != "ByteLevel")
      unsupported("decoder.type", dec, "ByteLevel or null for BPE");
    std::vector<std::pair<std::string, std::string>> merges;
    for (const Value& m : need(model, "merges", Kind::Array, "model.merges").array) {
      if (m.kind == Kind::Array && m.array.size() == 2) {
        merges.emplace_back(m.array[0].string, m.array[1].string);
        continue;
      }
      size_t space = m.string.find(' ');
      if (m.kind != Kind::String || space == std::string::npos)
        fail("model.merges: expected \"left right\" or [left, right], got '" + m.string + "'");
      merges.emplace_back(m.string.substr(0, space), m.string.substr(space + 1));
    }
    return std::make_unique<ByteLevelBPETokenizer>(vocab(model, get(doc, "added_tokens")),
                                                   std::move(merges),
                                                   flag(*pre, "add_prefix_space", false), path);
  }
};

// Roles by the names BERT, GPT-2 and RoBERTa give their special tokens (tokenizer.json does
// not record roles; special_tokens_map.json does, with these names).
void assign_role(SpecialTokens& roles, const std::string& t) {
  if (t == "[PAD]" || t == "<pad>") roles.pad = t;
  if (t == "[UNK]" || t == "<unk>") roles.unk = t;
  if (t == "[CLS]") roles.cls = t;
  if (t == "[SEP]") roles.sep = t;
  if (t == "[MASK]" || t == "<mask>") roles.mask = t;
  if (t == "<s>") roles.bos = roles.cls = t;
  if (t == "</s>") roles.eos = roles.sep = t;
  if (t == "<|endoftext|>") roles.bos = roles.eos = roles.unk = t;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK_IO(in.good(), "load_tokenizer_json: cannot open '", path, "'");
  std::ostringstream text;
  text << in.rdbuf();
  Value doc;
  try {
    doc = io::json::parse(text.str());
  } catch (const io::json::ParseError& e) {
    throw IoError(ember::detail::cat(path, ":", e.line, ": ", e.what()));
  }
  Reader r{path};
  if (doc.kind != Kind::Object) r.fail("a tokenizer.json must be an object");
  const Value& model = r.need(doc, "model", Kind::Object, "model");
  std::string kind;
  if (const Value* t = r.get(model, "type"))
    kind = t->string;
  else
    kind = r.get(model, "merges") ? "BPE" : "WordPiece";  // files from before "type"
  std::unique_ptr<Tokenizer> tok;
  if (kind == "WordPiece")
    tok = r.wordpiece(doc, model);
  else if (kind == "BPE")
    tok = r.bpe(doc, model);
  else
    r.unsupported("model.type", kind, "WordPiece or BPE");

  SpecialTokens roles = tok->special_tokens();
  if (const Value* u = r.get(model, "unk_token")) roles.unk = u->string;
  if (const Value* added = r.get(doc, "added_tokens")) {
    for (const Value& t : added->array) {
      const std::string& content =
          r.need(t, "content", Kind::String, "added_tokens.content").string;
      bool special = r.flag(t, "special", false);
      tok->add_token(content, special);
      if (special) assign_role(roles, content);
    }
  }
  tok->set_special_tokens(roles);
  tok->set_post_processor(*r.post_processor(doc));
  return tok;
}

}  // namespace ember::text
