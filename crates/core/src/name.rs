//! Display names of homes, users and locks.

use std::fmt;

/// The longest name, in characters (spaces included).
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a name must have 1 to {MAX_NAME_CHARS} characters, at least one of them visible, and no control characters")]
pub struct NameError;

/// Inclusive ranges of characters.
type Ranges = &'static [(char, char)];

/// Control characters, and the bidirectional embeddings, overrides and
/// isolates, which can make a name in the log read as something else.
const REFUSED: Ranges =
    &[('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}'), ('\u{202A}', '\u{202E}'), ('\u{2066}', '\u{2069}')];

/// Unicode White_Space (what `char::is_whitespace` says).
const WHITESPACE: Ranges = &[
    ('\u{9}', '\u{D}'),
    ('\u{20}', '\u{20}'),
    ('\u{85}', '\u{85}'),
    ('\u{A0}', '\u{A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt):
/// characters that show nothing unless a font has a glyph for them (zero
/// width spaces and joiners, direction marks, the byte order mark, soft
/// hyphens, fillers, variation selectors, tags, and the code points
/// reserved for more). A test checks every code point against the property
/// as the `regex` crate's Unicode tables hold it, so a new Unicode version
/// that changes it fails the build instead of letting a blank name through.
const DEFAULT_IGNORABLE: Ranges = &[
    ('\u{AD}', '\u{AD}'),
    ('\u{34F}', '\u{34F}'),
    ('\u{61C}', '\u{61C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Graphic characters whose glyph is blank by design: the Braille pattern
/// with no dots and the musical null notehead. (Every other character
/// commonly used to make "invisible" text is white space or default
/// ignorable.)
const BLANK: Ranges = &[('\u{2800}', '\u{2800}'), ('\u{1D159}', '\u{1D159}')];

fn within(c: char, ranges: Ranges) -> bool {
    ranges.iter().any(|(low, high)| (*low..=*high).contains(&c))
}

fn visible(c: char) -> bool {
    !within(c, REFUSED) && !within(c, WHITESPACE) && !within(c, DEFAULT_IGNORABLE) && !within(c, BLANK)
}

/// A name of 1–64 characters with at least one visible character and no
/// control characters. Any other Unicode text is allowed, and the text is
/// kept exactly as given (surrounding spaces included): what the owner typed
/// is what they get back.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(raw: impl Into<String>) -> Result<Self, NameError> {
        let raw = raw.into();
        if raw.chars().count() > MAX_NAME_CHARS || raw.chars().any(|c| within(c, REFUSED)) || !raw.chars().any(visible)
        {
            return Err(NameError);
        }
        Ok(Self(raw))
    }

    /// The rule of [`Name::parse`] as a regular expression (with `maxLength`
    /// 64 beside it), for the API's schema: no refused character, and at
    /// least one visible one. It is written with `\uXXXX` escapes for the
    /// Basic Multilingual Plane and literal characters beyond it, which
    /// ECMAScript, Python and Rust read alike.
    pub fn pattern() -> String {
        let refused = class(&[REFUSED]);
        let hidden = class(&[REFUSED, WHITESPACE, DEFAULT_IGNORABLE, BLANK]);
        format!("^[^{refused}]*[^{hidden}][^{refused}]*$")
    }

    /// Wraps a name that was valid when it was stored. The rules may have
    /// tightened since (control characters were once accepted); a stored
    /// name keeps loading until it is changed.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// Whether two names would read as the same to a person: equal but for
    /// letter case ("Front door", "front Door").
    pub fn same_as(&self, other: &Name) -> bool {
        self.as_str().to_lowercase() == other.as_str().to_lowercase()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The members of a regex character class for these ranges.
fn class(sets: &[Ranges]) -> String {
    let one = |c: char| {
        if u32::from(c) <= 0xFFFF { format!("\\u{:04X}", u32::from(c)) } else { c.to_string() }
    };
    let mut out = String::new();
    for (low, high) in sets.iter().flat_map(|ranges| ranges.iter()) {
        out.push_str(&one(*low));
        if high != low {
            out.push('-');
            out.push_str(&one(*high));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_say_what_the_standard_library_says() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(within(c, WHITESPACE), c.is_whitespace(), "{:X}", u32::from(c));
            let control = within(c, REFUSED) && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            assert_eq!(control, c.is_control(), "{:X}", u32::from(c));
        }
    }

    #[test]
    fn default_ignorable_is_unicodes_property() {
        let property = regex::Regex::new(r"^\p{Default_Ignorable_Code_Point}$").expect("a regex");
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mut text = [0; 4];
            let text = c.encode_utf8(&mut text);
            assert_eq!(within(c, DEFAULT_IGNORABLE), property.is_match(text), "{:X}", u32::from(c));
        }
    }

    /// Issue 21 item 8: every character that shows nothing, alone or with
    /// spaces, is no name; one visible character beside it is.
    #[test]
    fn no_name_of_the_whole_invisible_class_is_accepted() {
        let pattern = regex::Regex::new(&Name::pattern()).expect("a regex");
        let hidden = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| within(*c, DEFAULT_IGNORABLE) || within(*c, BLANK) || c.is_whitespace());
        let mut seen = 0;
        for c in hidden {
            seen += 1;
            for text in [c.to_string(), format!(" {c}{c} "), format!("{c}\u{2800}\u{1D159}")] {
                assert_eq!(Name::parse(text.clone()), Err(NameError), "{:X}", u32::from(c));
                assert!(!pattern.is_match(&text), "the pattern takes {:X}", u32::from(c));
            }
            if !within(c, REFUSED) {
                assert!(Name::parse(format!("{c}Dog walker")).is_ok(), "{:X}", u32::from(c));
            }
        }
        assert!(seen > 4000, "the class: {seen}");
    }

    #[test]
    fn the_pattern_is_the_rule() {
        let pattern = regex::Regex::new(&Name::pattern()).expect("a regex");
        let rule = |text: &str| pattern.is_match(text) && text.chars().count() <= MAX_NAME_CHARS;
        for text in [
            "Dog walker",
            "  Dog walker ",
            "",
            "   ",
            "\u{200B}",
            "\u{E0020}\u{E0041}",
            "Dog\nwalker",
            "\u{202E}x",
            "x\u{2067}",
            "\u{1D173}a",
            "\u{2800}",
            "\u{1D159}\u{2800}",
            "\u{FFF0}",
            "\u{E0100}",
            "é",
        ] {
            assert_eq!(rule(text), Name::parse(text).is_ok(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_pattern_agrees_with_the_rule_on_any_text(text in "\\PC{0,3}[\\x00-\\x20\\u{200B}-\\u{206F}\\u{E0000}-\\u{E0080}]{0,3}\\PC{0,2}") {
            let pattern = regex::Regex::new(&Name::pattern()).expect("a regex");
            let rule = pattern.is_match(&text) && text.chars().count() <= MAX_NAME_CHARS;
            proptest::prop_assert_eq!(rule, Name::parse(text.clone()).is_ok(), "{:?}", text);
        }
    }

    #[test]
    fn counts_every_character_and_keeps_text_exactly() {
        assert_eq!(Name::parse("  Dog walker ").map(|n| n.as_str().to_owned()), Ok("  Dog walker ".to_owned()));
        assert_eq!(Name::parse("   "), Err(NameError));
        assert_eq!(Name::parse(""), Err(NameError));
        assert!(Name::parse("é".repeat(64)).is_ok());
        assert_eq!(Name::parse("é".repeat(65)), Err(NameError));
        assert_eq!(Name::parse(format!(" {} ", "é".repeat(63))), Err(NameError), "spaces count");
        assert!(Name::parse("🐕 walker <img src=x>").is_ok());
    }

    #[test]
    fn a_name_has_something_to_see_and_no_control_characters() {
        for invisible in
            ["\u{200B}", "\u{200B}\u{200C}\u{200D}", "\u{202E}\u{2066}", " \u{FEFF} ", "\u{2060}\u{00AD}", "\u{3164}"]
        {
            assert_eq!(Name::parse(invisible), Err(NameError), "{invisible:?}");
        }
        for control in ["Dog\nwalker", "Dog\u{0}walker", "Dog\u{7F}", "Dog\twalker", "\u{202E}reklaw goD"] {
            assert_eq!(Name::parse(control), Err(NameError), "{control:?}");
        }
        // Joiners inside words and emoji sequences are fine.
        assert!(Name::parse("👨\u{200D}👩\u{200D}👧 family").is_ok());
        assert!(Name::parse("می\u{200C}خواهم").is_ok());
        assert!(Name::parse("Zoë").is_ok());
    }
}
