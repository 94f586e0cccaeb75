// Tokenizer's shared half: the vocabulary lookups, added tokens split out of the text before
// the model sees it, the post-processor's template, pairs, truncation and batches.
#include "ember/text/subword_tokenizer.hpp"

#include <algorithm>

#include "ember/error.hpp"

namespace ember::text {

Tokenizer::~Tokenizer() = default;

void Tokenizer::set_vocab(std::vector<std::string> tokens, const std::string& who) {
  EMBER_CHECK_VALUE(!tokens.empty(), who, ": the vocabulary is empty");
  tokens_ = std::move(tokens);
  index_.clear();
  index_.reserve(tokens_.size());
  // A repeated token maps to its last id, as Hugging Face's load_vocab does.
  for (size_t i = 0; i < tokens_.size(); ++i) index_[tokens_[i]] = static_cast<int64_t>(i);
  special_.assign(tokens_.size(), false);
}

int64_t Tokenizer::token_to_id(const std::string& token) const {
  auto it = index_.find(token);
  EMBER_CHECK_INDEX(it != index_.end(), "token_to_id: '", token, "' is not in the vocabulary of ",
                    tokens_.size(), " tokens");
  return it->second;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  EMBER_CHECK_INDEX(id >= 0 && id < static_cast<int64_t>(tokens_.size()), "id_to_token: id ", id,
                    " out of range for a vocabulary of ", tokens_.size(), " tokens");
  return tokens_[static_cast<size_t>(id)];
}

std::optional<int64_t> Tokenizer::role_id(const std::optional<std::string>& token) const {
  if (!token) return std::nullopt;
  auto it = index_.find(*token);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

void Tokenizer::add_token(const std::string& token, bool special) {
  EMBER_CHECK_VALUE(!token.empty(), "add_token: an added token cannot be empty");
  auto it = index_.find(token);
  int64_t id;
  if (it == index_.end()) {  // a new token grows the vocabulary, as add_tokens does
    id = static_cast<int64_t>(tokens_.size());
    tokens_.push_back(token);
    special_.push_back(false);
    index_[token] = id;
  } else {
    id = it->second;
  }
  if (special) special_[static_cast<size_t>(id)] = true;
  if (std::find(added_.begin(), added_.end(), token) == added_.end()) {
    added_.push_back(token);
    std::stable_sort(added_.begin(), added_.end(), [](const std::string& a, const std::string& b) {
      return a.size() > b.size();
    });
    starts_added_.resize(256, false);
    starts_added_[static_cast<unsigned char>(token[0])] = true;
  }
}

bool Tokenizer::is_special_id(int64_t id) const {
  return id >= 0 && id < static_cast<int64_t>(special_.size()) && special_[static_cast<size_t>(id)];
}

void Tokenizer::set_special_tokens(const SpecialTokens& tokens) {
  for (const auto* role : {&tokens.pad, &tokens.bos, &tokens.eos, &tokens.unk, &tokens.cls,
                           &tokens.sep, &tokens.mask}) {
    if (!*role) continue;
    EMBER_CHECK_VALUE(index_.count(**role), "set_special_tokens: '", **role,
                      "' is not in the vocabulary");
    add_token(**role, true);
  }
  special_tokens_ = tokens;
}

void Tokenizer::set_post_processor(PostProcessor processor) {
  for (const auto* pieces : {&processor.single, &processor.pair})
    for (const TemplatePiece& p : *pieces)
      EMBER_CHECK_VALUE(p.special.empty() || index_.count(p.special),
                        "post-processor: special token '", p.special, "' is not in the vocabulary");
  post_processor_ = std::move(processor);
}

int64_t Tokenizer::num_special_tokens_to_add(bool pair) const {
  int64_t n = 0;
  for (const TemplatePiece& p : pair ? post_processor_.pair : post_processor_.single)
    n += p.special.empty() ? 0 : 1;
  return n;
}

std::vector<int64_t> Tokenizer::encode_text(const std::string& text) const {
  std::vector<int64_t> out;
  if (added_.empty()) {
    encode_segment(text, out);
    return out;
  }
  size_t segment = 0;
  for (size_t i = 0; i < text.size();) {
    const std::string* hit = nullptr;
    if (starts_added_[static_cast<unsigned char>(text[i])])
      for (const std::string& token : added_)
        if (text.compare(i, token.size(), token) == 0) {
          hit = &token;
          break;
        }
    if (!hit) {
      ++i;
      continue;
    }
    if (i > segment) encode_segment(text.substr(segment, i - segment), out);
    out.push_back(index_.at(*hit));
    i += hit->size();
    segment = i;
  }
  if (segment < text.size()) encode_segment(text.substr(segment), out);
  return out;
}

std::vector<int64_t> Tokenizer::apply_template(const std::vector<int64_t>& a,
                                               const std::vector<int64_t>* b,
                                               std::vector<int64_t>* type_ids) const {
  std::vector<int64_t> ids;
  ids.reserve(a.size() + (b ? b->size() : 0) + 4);
  for (const TemplatePiece& p : b ? post_processor_.pair : post_processor_.single) {
    size_t before = ids.size();
    if (!p.special.empty())
      ids.push_back(index_.at(p.special));
    else if (p.sequence == 0)
      ids.insert(ids.end(), a.begin(), a.end());
    else if (b)
      ids.insert(ids.end(), b->begin(), b->end());
    if (type_ids) type_ids->insert(type_ids->end(), ids.size() - before, p.type_id);
  }
  return ids;
}

Encoding Tokenizer::encode_pair(const std::string& a, const std::string& b,
                                int64_t max_length) const {
  std::vector<int64_t> ia = encode(a, false), ib = encode(b, false);
  if (max_length > 0) {
    int64_t budget = max_length - num_special_tokens_to_add(true);
    EMBER_CHECK_VALUE(budget >= 0, "encode_pair: max_length ", max_length, " leaves no room for ",
                      num_special_tokens_to_add(true), " special tokens");
    while (static_cast<int64_t>(ia.size() + ib.size()) > budget) {
      if (ia.size() > ib.size())
        ia.pop_back();
      else
        ib.pop_back();
    }
  }
  Encoding e;
  e.ids = apply_template(ia, &ib, &e.token_type_ids);
  e.attention_mask.assign(e.ids.size(), 1);
  return e;
}

BatchEncoding Tokenizer::encode_batch(const std::vector<std::string>& texts, int64_t max_length,
                                      bool pad_left) const {
  std::vector<std::vector<int64_t>> ids(texts.size()), types(texts.size());
  size_t longest = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int64_t> content = encode(texts[i], false);
    if (max_length > 0) {
      int64_t budget = max_length - num_special_tokens_to_add(false);
      EMBER_CHECK_VALUE(budget >= 0, "encode_batch: max_length ", max_length,
                        " leaves no room for ", num_special_tokens_to_add(false),
                        " special tokens");
      if (static_cast<int64_t>(content.size()) > budget)
        content.resize(static_cast<size_t>(budget));
    }
    ids[i] = apply_template(content, nullptr, &types[i]);
    longest = std::max(longest, ids[i].size());
  }
  int64_t pad = pad_token_id().value_or(eos_token_id().value_or(0));
  const size_t n = texts.size() * longest;
  std::vector<int64_t> input(n, pad), type_ids(n, 0), mask(n, 0);
  for (size_t i = 0; i < texts.size(); ++i) {
    size_t start = i * longest + (pad_left ? longest - ids[i].size() : 0);
    std::copy(ids[i].begin(), ids[i].end(), input.begin() + static_cast<std::ptrdiff_t>(start));
    std::copy(types[i].begin(), types[i].end(),
              type_ids.begin() + static_cast<std::ptrdiff_t>(start));
    std::fill_n(mask.begin() + static_cast<std::ptrdiff_t>(start), ids[i].size(), 1);
  }
  Shape shape{static_cast<int64_t>(texts.size()), static_cast<int64_t>(longest)};
  return {IndexTensor(std::move(input), shape), IndexTensor(std::move(type_ids), shape),
          IndexTensor(std::move(mask), shape)};
}

}  // namespace ember::text
