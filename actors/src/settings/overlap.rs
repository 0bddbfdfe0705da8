//! Whether two families of Redis keys can name the same key, and a key they share.
//!
//! `keys.followers`, `keys.feed` and fanout's own keys under `keys.prefix` must stay apart:
//! a feed key that is also a follower list would have photos pushed into someone's
//! followers. Each family is a small regular language (literal characters, a run of digits
//! where `{user}` stands, or anything after the prefix), so whether two of them meet is
//! decided exactly, by searching the product of their automata, rather than by guessing
//! from their first characters. `Family` ties a language to the setting that defines it,
//! so a clash names that setting.

use std::collections::{BTreeSet, VecDeque};

use super::error::SettingsError;

/// The keys one `[keys]` setting defines.
pub(crate) struct Family<'a> {
    setting: &'static str,
    value: &'a str,
    /// Whether the value differs from the default: a clash is named after the change.
    changed: bool,
    /// What its keys hold, for the error ("a home feed").
    what: &'static str,
    keys: Vec<Token>,
}

impl<'a> Family<'a> {
    /// The keys of a `{user}` pattern such as `keys.feed`.
    pub(crate) fn users(
        setting: &'static str,
        value: &'a str,
        default: &str,
        what: &'static str,
    ) -> Self {
        Self {
            setting,
            value,
            changed: value != default,
            what,
            keys: user_keys(value),
        }
    }

    /// The keys under a prefix: `keys.prefix`.
    pub(crate) fn prefixed(
        setting: &'static str,
        value: &'a str,
        default: &str,
        what: &'static str,
    ) -> Self {
        Self {
            setting,
            value,
            changed: value != default,
            what,
            keys: prefixed_keys(value),
        }
    }

    /// The error when some key is in both families. It names `self`, unless only `other`
    /// was changed from its default (then the change made the clash).
    pub(crate) fn clash(&self, other: &Family) -> Option<SettingsError> {
        let key = common_key(&self.keys, &other.keys)?;
        let (at_fault, other) = if other.changed && !self.changed {
            (other, self)
        } else {
            (self, other)
        };
        Some(SettingsError::new(
            at_fault.setting,
            format!(
                "'{}' overlaps {} ('{}'): a key such as '{key}' would be both {} and {}",
                at_fault.value, other.setting, other.value, at_fault.what, other.what
            ),
        ))
    }
}

/// One piece of a key family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// This character, once.
    Char(char),
    /// One or more ASCII digits: a user id. Leading zeros are allowed because the chunk
    /// script builds feed keys from follower-list entries as they are, not from parsed ids.
    Digits,
    /// Zero or more of any character: whatever fanout puts after its prefix.
    Any,
}

/// The keys of a pattern such as `homefeed:{user}`: every `{user}` is a user id.
fn user_keys(pattern: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut pieces = pattern.split("{user}");
    tokens.extend(pieces.next().unwrap_or_default().chars().map(Token::Char));
    for piece in pieces {
        tokens.push(Token::Digits);
        tokens.extend(piece.chars().map(Token::Char));
    }
    tokens
}

/// The keys starting with `prefix`: fanout's own keys (`<prefix>jobs`, `<prefix>job:7`…).
fn prefixed_keys(prefix: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = prefix.chars().map(Token::Char).collect();
    tokens.push(Token::Any);
    tokens
}

/// A shortest key belonging to both families, or `None` when they are disjoint.
///
/// The automaton of a family has one state per token consumed (`0..=len`). Breadth-first
/// search over pairs of states reaches an accepting pair exactly when some key is in both
/// languages. Trying every character is unnecessary: characters that appear in neither
/// family behave alike (only `Any` takes them), so one of them stands for all.
fn common_key(a: &[Token], b: &[Token]) -> Option<String> {
    let alphabet = alphabet(a, b);
    let width = b.len() + 1;
    let index = |i: usize, j: usize| i * width + j;
    // For each visited pair, the pair it was reached from and the character read.
    let mut came_from: Vec<Option<(usize, char)>> = vec![None; (a.len() + 1) * width];
    let mut seen = vec![false; came_from.len()];
    let mut queue = VecDeque::from([(0, 0)]);
    seen[0] = true;
    while let Some((i, j)) = queue.pop_front() {
        if accepts(a, i) && accepts(b, j) {
            return Some(spell(&came_from, index(i, j)));
        }
        for &c in &alphabet {
            for i2 in step(a, i, c) {
                for j2 in step(b, j, c) {
                    let next = index(i2, j2);
                    if !seen[next] {
                        seen[next] = true;
                        came_from[next] = Some((index(i, j), c));
                        queue.push_back((i2, j2));
                    }
                }
            }
        }
    }
    None
}

/// The characters worth trying: digits (`1` first, so witnesses read like real ids), every
/// literal of either family, and one character that is neither.
fn alphabet(a: &[Token], b: &[Token]) -> Vec<char> {
    let literals: BTreeSet<char> = a
        .iter()
        .chain(b)
        .filter_map(|t| match t {
            Token::Char(c) => Some(*c),
            _ => None,
        })
        .collect();
    let other = ('!'..=char::MAX)
        .find(|c| !c.is_ascii_digit() && !literals.contains(c))
        .expect("finitely many literals leave some character unused");
    let mut chars: Vec<char> = "1234567890".chars().collect();
    chars.extend(literals.iter().filter(|c| !c.is_ascii_digit()));
    chars.push(other);
    chars
}

/// The states reachable from `state` without reading: past any run of `Any` tokens.
fn closure(tokens: &[Token], state: usize) -> impl Iterator<Item = usize> + '_ {
    let skippable = tokens[state..]
        .iter()
        .take_while(|t| **t == Token::Any)
        .count();
    state..=state + skippable
}

/// Whether a key may end in `state`.
fn accepts(tokens: &[Token], state: usize) -> bool {
    closure(tokens, state).any(|s| s == tokens.len())
}

/// The states reached from `state` by reading `c`.
fn step(tokens: &[Token], state: usize, c: char) -> Vec<usize> {
    let mut next = Vec::new();
    for s in closure(tokens, state) {
        match tokens.get(s) {
            Some(Token::Char(x)) if *x == c => next.push(s + 1),
            Some(Token::Digits) if c.is_ascii_digit() => next.push(s + 1),
            Some(Token::Any) => next.push(s),
            _ => {}
        }
        // Having read a digit of an id, more digits extend the same id.
        if s > 0 && tokens[s - 1] == Token::Digits && c.is_ascii_digit() {
            next.push(s);
        }
    }
    next.sort_unstable();
    next.dedup();
    next
}

/// The characters read on the way from the start to `end`.
fn spell(came_from: &[Option<(usize, char)>], mut end: usize) -> String {
    let mut reversed = Vec::new();
    while let Some((previous, c)) = came_from[end] {
        reversed.push(c);
        end = previous;
    }
    reversed.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(a: &str, b: &str) -> Option<String> {
        common_key(&user_keys(a), &user_keys(b))
    }

    fn under(prefix: &str, pattern: &str) -> Option<String> {
        common_key(&prefixed_keys(prefix), &user_keys(pattern))
    }

    /// Whether `key` is in the family, by backtracking: slow, obviously right.
    fn matches(tokens: &[Token], key: &[char]) -> bool {
        match tokens.split_first() {
            None => key.is_empty(),
            Some((Token::Char(c), rest)) => key.first() == Some(c) && matches(rest, &key[1..]),
            Some((Token::Digits, rest)) => (1..=key.len())
                .take_while(|&n| key[n - 1].is_ascii_digit())
                .any(|n| matches(rest, &key[n..])),
            Some((Token::Any, rest)) => (0..=key.len()).any(|n| matches(rest, &key[n..])),
        }
    }

    fn member(tokens: &[Token], key: &str) -> bool {
        matches(tokens, &key.chars().collect::<Vec<_>>())
    }

    #[test]
    fn a_clash_is_named_after_the_setting_that_changed() {
        let feed = Family::users("keys.feed", "f:{user}", "f:{user}", "a feed");
        let changed = Family::users("keys.followers", "f:{user}", "g:{user}", "a list");
        let both = Family::users("keys.followers", "f:{user}", "f:{user}", "a list");
        assert_eq!(feed.clash(&changed).unwrap().setting, "keys.followers");
        assert_eq!(changed.clash(&feed).unwrap().setting, "keys.followers");
        assert_eq!(
            feed.clash(&both).unwrap().to_string(),
            "keys.feed: 'f:{user}' overlaps keys.followers ('f:{user}'): a key such as 'f:1' would be both a feed and a list"
        );
        let apart = Family::prefixed("keys.prefix", "fanout:", "fanout:", "its own");
        assert_eq!(apart.clash(&feed), None);
    }

    #[test]
    fn patterns_become_tokens() {
        use Token::*;
        assert_eq!(user_keys("f:{user}"), [Char('f'), Char(':'), Digits]);
        assert_eq!(user_keys("{user}.x"), [Digits, Char('.'), Char('x')]);
        assert_eq!(prefixed_keys("a:"), [Char('a'), Char(':'), Any]);
        assert_eq!(prefixed_keys(""), [Any]);
    }

    #[test]
    fn equal_patterns_share_their_first_key() {
        assert_eq!(
            users("followers:{user}", "followers:{user}").as_deref(),
            Some("followers:1")
        );
        assert_eq!(users("f:{user}", "f:{user}").as_deref(), Some("f:1"));
        assert_eq!(users("{user}", "{user}").as_deref(), Some("1"));
    }

    #[test]
    fn an_id_can_swallow_a_digit_of_the_other_pattern() {
        assert_eq!(users("x{user}", "x1{user}").as_deref(), Some("x11"));
        assert_eq!(users("{user}1", "1{user}").as_deref(), Some("11"));
        assert_eq!(users("a{user}9b", "a9{user}b").as_deref(), Some("a99b"));
        // The literal digit must sit where an id can: here it follows a colon.
        assert_eq!(users("x:{user}", "x1{user}"), None);
    }

    #[test]
    fn different_literals_keep_families_apart() {
        assert_eq!(users("u:{user}:followers", "{user}.feed"), None);
        assert_eq!(users("feed:{user}", "followers:{user}"), None);
        assert_eq!(users("homefeed:{user}:x", "homefeed:{user}:y"), None);
        assert_eq!(users("followers:{user}", "homefeed:{user}"), None);
        assert_eq!(users("{user}a", "{user}"), None);
        assert_eq!(users("a{user}", "{user}"), None);
        assert_eq!(users("{user}:", ":{user}"), None);
    }

    #[test]
    fn a_prefix_overlaps_the_patterns_that_can_start_with_it() {
        assert_eq!(
            under("fanout:", "fanout:feed:{user}").as_deref(),
            Some("fanout:feed:1")
        );
        assert_eq!(
            under("home", "homefeed:{user}").as_deref(),
            Some("homefeed:1")
        );
        assert_eq!(
            under("homefeed:1", "homefeed:{user}").as_deref(),
            Some("homefeed:1")
        );
        assert_eq!(
            under("fanout", "fanoutfeed:{user}").as_deref(),
            Some("fanoutfeed:1")
        );
        assert_eq!(under("", "homefeed:{user}").as_deref(), Some("homefeed:1"));
        assert_eq!(under("7", "{user}").as_deref(), Some("7"));
        assert_eq!(under("12", "1{user}").as_deref(), Some("12"));
    }

    #[test]
    fn a_prefix_the_patterns_cannot_start_with_is_apart() {
        assert_eq!(under("fanout:", "homefeed:{user}"), None);
        assert_eq!(under("fanout:", "followers:{user}"), None);
        assert_eq!(under("fanout:", "fanoutfeed:{user}"), None);
        assert_eq!(under("homefeed:a", "homefeed:{user}"), None);
        assert_eq!(under("{fanout}:", "fanout:{user}"), None);
        assert_eq!(under("x", "{user}x"), None);
    }

    #[test]
    fn two_prefixes_meet_when_one_starts_the_other() {
        let (a, b) = (prefixed_keys("ab"), prefixed_keys("a"));
        assert_eq!(common_key(&a, &b).as_deref(), Some("ab"));
        assert_eq!(common_key(&prefixed_keys("ab"), &prefixed_keys("b")), None);
        assert_eq!(
            common_key(&prefixed_keys(""), &prefixed_keys("")).as_deref(),
            Some("")
        );
    }

    #[test]
    fn characters_outside_the_patterns_are_handled() {
        assert_eq!(
            users("ключ:{user}", "ключ:{user}").as_deref(),
            Some("ключ:1")
        );
        assert_eq!(users("ключ:{user}", "клюк:{user}"), None);
        // One character outside every literal stands for all the others.
        let tried = alphabet(&[Token::Char('!'), Token::Char('1')], &[Token::Any]);
        assert_eq!(tried, "1234567890!\"".chars().collect::<Vec<_>>());
    }

    /// Every witness is in both families, and no short key is in both when none is found.
    #[test]
    fn the_search_agrees_with_brute_force() {
        let patterns = [
            "{user}", "a{user}", "{user}a", "1{user}", "{user}1", "a1{user}", "a{user}1",
            "1{user}a", "a{user}a", "11{user}", "{user}a1",
        ];
        let prefixes = ["", "a", "1", "a1", "1a", "11", "aa"];
        let mut families: Vec<Vec<Token>> = patterns.iter().map(|p| user_keys(p)).collect();
        families.extend(prefixes.iter().map(|p| prefixed_keys(p)));
        let mut keys = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = keys
                .iter()
                .filter(|k| k.len() == keys.last().unwrap().len())
                .flat_map(|k| ['a', '1', '2', '-'].map(|c| format!("{k}{c}")))
                .collect();
            keys.extend(longer);
        }
        for a in &families {
            for b in &families {
                match common_key(a, b) {
                    Some(key) => {
                        assert!(member(a, &key) && member(b, &key), "{a:?} {b:?}");
                        let shorter = keys.iter().take_while(|k| k.len() < key.len());
                        assert!(shorter.filter(|k| member(a, k) && member(b, k)).count() == 0);
                    }
                    None => {
                        let shared = keys.iter().find(|k| member(a, k) && member(b, k));
                        assert_eq!(shared, None, "{a:?} {b:?}");
                    }
                }
            }
        }
    }
}
