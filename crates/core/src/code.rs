//! Keypad codes and the rules a new or changed code must pass.

use std::fmt;

use zeroize::Zeroizing;

use crate::home::PolicyError;
use crate::user::UserKind;

/// Codes refused when the home rejects weak codes: the 20 most common PINs
/// (DataGenetics, 3.4 M PINs) and installer defaults seen in the field.
/// Runs and repeated digits are caught by rule, not listed.
const COMMON_CODES: &[&str] = &[
    "1234", "1111", "0000", "1212", "7777", "1004", "2000", "4444", "2222", "6969", "9999", "3333", "5555", "6666",
    "1122", "1313", "8888", "4321", "2001", "1010", "4112",
];

/// What digits a home's codes may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodePolicy {
    min_length: u8,
    max_length: u8,
    reject_weak: bool,
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self { min_length: 4, max_length: 8, reject_weak: true }
    }
}

impl CodePolicy {
    pub const SHORTEST: u8 = 4;
    pub const LONGEST: u8 = 8;

    pub fn new(min_length: i64, max_length: i64, reject_weak: bool) -> Result<Self, PolicyError> {
        let range = i64::from(Self::SHORTEST)..=i64::from(Self::LONGEST);
        if !range.contains(&min_length) || !range.contains(&max_length) {
            return Err(PolicyError::CodeLengths);
        }
        if min_length > max_length {
            return Err(PolicyError::CodeLengthOrder);
        }
        // In range 4..=8, so the casts cannot truncate.
        Ok(Self { min_length: min_length as u8, max_length: max_length as u8, reject_weak })
    }

    pub fn min_length(&self) -> u8 {
        self.min_length
    }

    pub fn max_length(&self) -> u8 {
        self.max_length
    }

    pub fn reject_weak(&self) -> bool {
        self.reject_weak
    }
}

/// Why a code was refused. The messages never contain a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not 4 to 8 digits: no home takes it.
    #[error("a code is 4 to 8 digits")]
    Invalid,
    /// Digits, but not of a length this home's policy takes.
    #[error("a code in this home must be {min} to {max} digits")]
    Length { min: u8, max: u8 },
    #[error("this code is too easy to guess: repeated digits, a run up or down, or one of the most common PINs")]
    TooWeak,
    #[error("this code is already used by someone in this home")]
    InUse,
    #[error("a code can't start with another user's code, and no other code may start with it")]
    PrefixConflict,
    #[error("a duress code must differ from every other code of the same length in at least two digits")]
    TooClose,
}

/// A code that passed the format rules of its home: digits only, within the
/// home's lengths. Its Debug output is redacted; its memory is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(Zeroizing<String>);

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code(<redacted>)")
    }
}

impl Code {
    /// Checks the format only (digits, length). Use [`Code::check_new`] for a
    /// code that is being given to a user.
    pub fn parse(candidate: &str, policy: &CodePolicy) -> Result<Self, CodeError> {
        let len = candidate.len();
        let digits = candidate.bytes().all(|b| b.is_ascii_digit());
        if !digits || len < usize::from(CodePolicy::SHORTEST) || len > usize::from(CodePolicy::LONGEST) {
            return Err(CodeError::Invalid);
        }
        if len < usize::from(policy.min_length) || len > usize::from(policy.max_length) {
            return Err(CodeError::Length { min: policy.min_length, max: policy.max_length });
        }
        Ok(Self(Zeroizing::new(candidate.to_owned())))
    }

    /// Wraps a code that was valid when it was stored. Policies may have
    /// tightened since, and a stored code keeps working until it is changed.
    pub fn from_stored(digits: Zeroizing<String>) -> Self {
        Self(digits)
    }

    /// Checks every rule for a code given to a user of `kind`, against the
    /// other codes of the same home (the user's own current code excluded).
    pub fn check_new<'a>(
        candidate: &str,
        kind: UserKind,
        policy: &CodePolicy,
        others: impl IntoIterator<Item = ExistingCode<'a>>,
    ) -> Result<Self, CodeError> {
        let code = Self::parse(candidate, policy)?;
        if policy.reject_weak && code.is_weak() {
            return Err(CodeError::TooWeak);
        }
        // Collect every conflict first, then report the most specific one, so
        // the answer does not depend on the order the others are listed in.
        let mut worst: Option<CodeError> = None;
        for other in others {
            let conflict = code.conflict_with(kind, &other);
            if let Some(found) = conflict {
                let rank = |e: &CodeError| match e {
                    CodeError::InUse => 0,
                    CodeError::PrefixConflict => 1,
                    _ => 2,
                };
                if worst.as_ref().is_none_or(|w| rank(&found) < rank(w)) {
                    worst = Some(found);
                }
            }
        }
        match worst {
            Some(error) => Err(error),
            None => Ok(code),
        }
    }

    /// Proposes a random code that passes every rule, of the policy's
    /// shortest length that still has a free one. `random` yields random numbers
    /// (the domain has no randomness of its own); `None` if no candidate
    /// passed within a bounded number of tries.
    pub fn generate<'a>(
        kind: UserKind,
        policy: &CodePolicy,
        others: &[ExistingCode<'a>],
        mut random: impl FnMut() -> u32,
    ) -> Option<Self> {
        // The shortest code the home takes (4 digits unless the owner asked
        // for more), as easy to remember as a keypad allows; longer only when
        // no free one of that length turns up.
        (policy.min_length..=policy.max_length).find_map(|length| {
            (0..200).find_map(|_| {
                let candidate: String = (0..length).map(|_| char::from(b'0' + (random() % 10) as u8)).collect();
                Self::check_new(&candidate, kind, policy, others.iter().copied()).ok()
            })
        })
    }

    fn conflict_with(&self, kind: UserKind, other: &ExistingCode<'_>) -> Option<CodeError> {
        let (mine, theirs) = (self.as_str(), other.digits);
        if mine == theirs {
            return Some(CodeError::InUse);
        }
        // Keypads submit as soon as the shortest matching code is typed.
        if mine.starts_with(theirs) || theirs.starts_with(mine) {
            return Some(CodeError::PrefixConflict);
        }
        let duress_involved = kind == UserKind::Duress || other.kind == UserKind::Duress;
        if duress_involved && mine.len() == theirs.len() {
            let differing = mine.bytes().zip(theirs.bytes()).filter(|(a, b)| a != b).count();
            if differing < 2 {
                return Some(CodeError::TooClose);
            }
        }
        None
    }

    /// Repeated digits, a run up or down (wrapping 9→0, as keypads are laid
    /// out), or a well-known PIN.
    pub fn is_weak(&self) -> bool {
        let digits: Vec<u8> = self.0.bytes().map(|b| b - b'0').collect();
        let steps_all = |step: u8| digits.windows(2).all(|w| (w[0] + step) % 10 == w[1]);
        steps_all(0) || steps_all(1) || steps_all(9) || COMMON_CODES.contains(&self.as_str())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Another user's code in the same home, as the rules need to see it.
#[derive(Clone, Copy)]
pub struct ExistingCode<'a> {
    pub digits: &'a str,
    pub kind: UserKind,
}

impl fmt::Debug for ExistingCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExistingCode(<redacted>, {:?})", self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn std_code(digits: &str) -> ExistingCode<'_> {
        ExistingCode { digits, kind: UserKind::Standard }
    }

    fn duress(digits: &str) -> ExistingCode<'_> {
        ExistingCode { digits, kind: UserKind::Duress }
    }

    fn check(candidate: &str, kind: UserKind, others: &[ExistingCode<'_>]) -> Result<String, CodeError> {
        Code::check_new(candidate, kind, &CodePolicy::default(), others.iter().copied()).map(|c| c.as_str().to_owned())
    }

    #[test]
    fn format_rules() {
        let invalid = Err(CodeError::Invalid);
        for bad in ["", "123", "123456789", "12a4", " 4719", "4719 ", "٤٧١٩", "-4719", "+4719"] {
            assert_eq!(check(bad, UserKind::Standard, &[]), invalid, "{bad:?}");
        }
        assert_eq!(check("4719", UserKind::Standard, &[]), Ok("4719".into()));
        assert_eq!(check("0071", UserKind::Standard, &[]), Ok("0071".into()), "leading zeros are significant");
    }

    #[test]
    fn policy_lengths_are_respected() {
        let policy = CodePolicy::new(6, 6, true).expect("valid policy");
        let length = Err(CodeError::Length { min: 6, max: 6 });
        assert_eq!(Code::parse("47193", &policy).map(|_| ()), length);
        assert!(Code::parse("471935", &policy).is_ok());
        assert_eq!(Code::parse("4719352", &policy).map(|_| ()), length);
        assert_eq!(Code::parse("123456789", &policy).map(|_| ()), Err(CodeError::Invalid), "no home takes nine");
        assert_eq!(CodePolicy::new(3, 8, true), Err(PolicyError::CodeLengths));
        assert_eq!(CodePolicy::new(4, 9, true), Err(PolicyError::CodeLengths));
        assert_eq!(CodePolicy::new(7, 6, true), Err(PolicyError::CodeLengthOrder));
    }

    #[test]
    fn weak_codes_are_refused_only_when_the_policy_says_so() {
        for weak in
            ["1111", "0000000", "1234", "9876", "012345", "7890", "3210", "98765432", "1212", "6969", "4112", "2001"]
        {
            assert_eq!(check(weak, UserKind::Standard, &[]), Err(CodeError::TooWeak), "{weak}");
        }
        for fine in ["4719", "1235", "13579", "24680", "90817263"] {
            assert!(check(fine, UserKind::Standard, &[]).is_ok(), "{fine}");
        }
        let lenient = CodePolicy::new(4, 8, false).expect("valid policy");
        assert!(Code::check_new("1234", UserKind::Standard, &lenient, []).is_ok());
    }

    #[test]
    fn duplicates_and_prefixes_are_refused() {
        let others = [std_code("4719"), std_code("583062")];
        assert_eq!(check("4719", UserKind::Standard, &others), Err(CodeError::InUse));
        assert_eq!(check("47190", UserKind::Standard, &others), Err(CodeError::PrefixConflict));
        assert_eq!(check("5830", UserKind::Standard, &others), Err(CodeError::PrefixConflict));
        assert!(check("5831", UserKind::Standard, &others).is_ok());
        // The most specific conflict wins, whatever the order.
        let reversed = [std_code("47190"), std_code("4719")];
        assert_eq!(check("4719", UserKind::Standard, &reversed), Err(CodeError::InUse));
    }

    #[test]
    fn duress_codes_must_differ_in_two_positions_both_ways() {
        assert_eq!(check("4720", UserKind::Duress, &[std_code("4719")]), Ok("4720".into()));
        assert_eq!(check("4718", UserKind::Duress, &[std_code("4719")]), Err(CodeError::TooClose));
        assert_eq!(check("5719", UserKind::Duress, &[std_code("4719")]), Err(CodeError::TooClose));
        assert_eq!(check("4718", UserKind::Standard, &[duress("4719")]), Err(CodeError::TooClose));
        // Two standard codes may be one digit apart.
        assert!(check("4718", UserKind::Standard, &[std_code("4719")]).is_ok());
        // Different lengths are not compared digit by digit.
        assert!(check("47185", UserKind::Duress, &[std_code("4719")]).is_ok());
    }

    #[test]
    fn generated_codes_pass_every_rule() {
        let mut seed = 12345u32;
        let mut random = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            seed >> 8
        };
        let taken = [std_code("4719"), duress("583062")];
        for _ in 0..50 {
            let code = Code::generate(UserKind::Duress, &CodePolicy::default(), &taken, &mut random).expect("a code");
            assert_eq!(code.len(), 4, "the shortest the policy takes");
            assert!(Code::check_new(code.as_str(), UserKind::Duress, &CodePolicy::default(), taken).is_ok());
        }
        let four = CodePolicy::new(4, 4, true).expect("valid");
        assert_eq!(Code::generate(UserKind::Standard, &four, &[], &mut random).map(|c| c.len()), Some(4));
        assert!(Code::generate(UserKind::Standard, &CodePolicy::default(), &[], || 1).is_none(), "no endless loop");
    }

    #[test]
    fn debug_output_never_shows_the_code() {
        let code = Code::parse("4719", &CodePolicy::default()).expect("valid");
        assert!(!format!("{code:?}").contains("4719"));
        assert!(!format!("{:?}", std_code("4719")).contains("4719"));
    }

    proptest! {
        #[test]
        fn every_length_from_min_to_max_is_accepted_and_others_refused(len in 0usize..12, seed in any::<u64>()) {
            let digits: String = (0..len).map(|i| char::from(b'0' + ((seed >> (i % 16 * 4)) as u8 % 10))).collect();
            let policy = CodePolicy::new(4, 8, false).expect("valid policy");
            let accepted = Code::parse(&digits, &policy).is_ok();
            prop_assert_eq!(accepted, (4..=8).contains(&len));
        }

        #[test]
        fn a_code_never_conflicts_with_a_different_non_prefix_code(a in "[0-9]{4,8}", b in "[0-9]{4,8}") {
            let policy = CodePolicy::new(4, 8, false).expect("valid policy");
            let result = Code::check_new(&a, UserKind::Standard, &policy, [std_code(&b)]);
            let expected = if a == b {
                Err(CodeError::InUse)
            } else if a.starts_with(&b) || b.starts_with(&a) {
                Err(CodeError::PrefixConflict)
            } else {
                Ok(a.clone())
            };
            prop_assert_eq!(result.map(|c| c.as_str().to_owned()), expected);
        }

        #[test]
        fn duress_distance_rule_matches_hamming_distance(a in "[0-9]{4,8}", b in "[0-9]{4,8}") {
            let policy = CodePolicy::new(4, 8, false).expect("valid policy");
            let result = Code::check_new(&a, UserKind::Duress, &policy, [std_code(&b)]);
            if a != b && !a.starts_with(&b) && !b.starts_with(&a) {
                let too_close = a.len() == b.len() && a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count() < 2;
                prop_assert_eq!(result.is_err(), too_close);
            }
        }

        #[test]
        fn weak_rule_flags_every_run_and_repetition(start in 0u8..10, len in 4usize..=8, step in prop::sample::select(vec![0u8, 1, 9])) {
            let digits: String = (0..len).map(|i| char::from(b'0' + (start + step * i as u8 % 10) % 10)).collect();
            let code = Code::parse(&digits, &CodePolicy::default()).expect("well formed");
            prop_assert!(code.is_weak(), "{} should be weak", digits);
        }
    }
}
