//! Wire-format helpers shared by the generated types: open enums, lenient
//! int64 decoding and a secret string that never prints.

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// An enum whose unknown wire values decode as `UnknownValue(String)`
/// instead of failing: Databricks adds enum values without notice.
#[allow(unused_macros)] // without any API package feature nothing uses it
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $(#[doc = $wire] $variant,)*
            /// A value this version of brickwork does not know.
            UnknownValue(::std::string::String),
        }

        impl $name {
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::UnknownValue(s) => s,
                }
            }
        }

        /// The empty value a response that omits a required enum decodes to.
        impl ::std::default::Default for $name {
            fn default() -> Self {
                Self::UnknownValue(::std::string::String::new())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            #[allow(unreachable_patterns)]
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                ::std::result::Result::Ok(match s {
                    $($wire => Self::$variant,)*
                    other => Self::UnknownValue(other.to_string()),
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> ::std::result::Result<Self, D::Error> {
                crate::service::wire::enum_value(d)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use open_enum;

/// An open enum's value, parsed from the wire text without copying it
/// unless it is unknown; numbers and booleans are taken as their text.
pub fn enum_value<'de, D: Deserializer<'de>, T: FromStr<Err = Infallible>>(d: D) -> Result<T, D::Error> {
    struct EnumText<T>(PhantomData<T>);

    impl<T: FromStr<Err = Infallible>> EnumText<T> {
        fn parsed(text: &str) -> T {
            match text.parse() {
                Ok(value) => value,
                Err(never) => match never {},
            }
        }
    }

    impl<'de, T: FromStr<Err = Infallible>> Visitor<'de> for EnumText<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an enum value as text")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            Ok(Self::parsed(text))
        }

        fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
            Ok(Self::parsed(if value { "true" } else { "false" }))
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
            Ok(Self::parsed(&value.to_string()))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
            Ok(Self::parsed(&value.to_string()))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
            Ok(Self::parsed(&serde_json::Number::from_f64(value).map_or_else(|| value.to_string(), |n| n.to_string())))
        }

        // Anything else is kept as its JSON text, never refused: null, objects, arrays.
        fn visit_unit<E: de::Error>(self) -> Result<T, E> {
            Ok(Self::parsed("null"))
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let value = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(Self::parsed(&value.to_string()))
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
            let value = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Ok(Self::parsed(&value.to_string()))
        }
    }

    d.deserialize_any(EnumText(PhantomData))
}

/// An int64 sent as a number or as a string (some APIs quote ids).
pub fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct LenientI64;

    impl<'de> Visitor<'de> for LenientI64 {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an int64 (a number or a string of digits)")
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok(Some(value))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            i64::try_from(value).map(Some).map_err(|_| E::custom(format!("{value} is not an int64")))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            // `1e3` is an int64; `1e30` is not (and must not saturate to i64::MAX).
            if value.fract() == 0.0 && value.abs() < 9.2e18 {
                Ok(Some(value as i64))
            } else {
                Err(E::custom(format!("{value} is not an int64")))
            }
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            text.trim().parse::<i64>().map(Some).map_err(|_| E::custom(format!("{text:?} is not an int64")))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    d.deserialize_any(LenientI64)
}

/// A required int64: missing or `null` decodes to 0.
pub fn lenient_i64_required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    lenient_i64(d).map(Option::unwrap_or_default)
}

/// A required field: `null` decodes to the empty value, as a missing one does.
pub fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// Whether a required nested value is still empty (then it is not sent).
pub fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A secret value in an API type (passwords, token values, secret payloads):
/// serialised as-is, shown as `***` by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wrap a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Sensitive(secret.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Sensitive {
    fn from(s: String) -> Self {
        Sensitive(s)
    }
}

impl From<&str> for Sensitive {
    fn from(s: &str) -> Self {
        Sensitive(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    open_enum!(Colour { Red = "RED", Blue = "BLUE", });

    #[derive(Debug, Deserialize)]
    struct Required {
        colour: Colour,
    }

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "lenient_i64")]
        n: Option<i64>,
        #[serde(default)]
        colour: Option<Colour>,
    }

    fn n_of(json: &str) -> Result<Option<i64>, String> {
        serde_json::from_str::<Probe>(&format!(r#"{{"n": {json}}}"#)).map(|p| p.n).map_err(|e| e.to_string())
    }

    fn colour_of(json: &str) -> Option<Colour> {
        serde_json::from_str::<Probe>(&format!(r#"{{"colour": {json}}}"#)).expect("decodes").colour
    }

    #[test]
    fn an_int64_is_read_from_numbers_strings_and_integral_floats() {
        assert_eq!(n_of("42"), Ok(Some(42)));
        assert_eq!(n_of("-7"), Ok(Some(-7)));
        assert_eq!(n_of(r#"" 1234567890123 ""#), Ok(Some(1_234_567_890_123)));
        assert_eq!(n_of("1e3"), Ok(Some(1000)));
        assert_eq!(n_of("null"), Ok(None));
        assert_eq!(serde_json::from_str::<Probe>("{}").map(|p| p.n).ok(), Some(None));
    }

    #[test]
    fn what_is_not_an_int64_is_refused_without_saturating() {
        for bad in ["1e30", "18446744073709551615", "1.5", r#""12x""#, "true", "[1]", "{}"] {
            assert!(n_of(bad).is_err(), "{bad} decoded as {:?}", n_of(bad));
        }
    }

    #[test]
    fn an_open_enum_keeps_unknown_values_and_takes_any_json_as_text() {
        assert_eq!(colour_of(r#""BLUE""#), Some(Colour::Blue));
        assert_eq!(colour_of(r#""HIBERNATING""#), Some(Colour::UnknownValue("HIBERNATING".into())));
        assert_eq!(colour_of("3"), Some(Colour::UnknownValue("3".into())));
        assert_eq!(colour_of("1.5"), Some(Colour::UnknownValue("1.5".into())));
        assert_eq!(colour_of("true"), Some(Colour::UnknownValue("true".into())));
        assert_eq!(colour_of(r#"{"a":[1]}"#), Some(Colour::UnknownValue(r#"{"a":[1]}"#.into())));
        assert_eq!(colour_of("null"), None);
        // A required enum sent as null is kept as its text, not refused.
        let required: Required = serde_json::from_str(r#"{"colour": null}"#).expect("decodes");
        assert_eq!(required.colour, Colour::UnknownValue("null".into()));
    }
}
