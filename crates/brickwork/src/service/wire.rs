//! Wire-format helpers shared by the generated types: open enums, lenient
//! int64 decoding and a secret string that never prints.

use std::fmt;

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
                let text = crate::service::wire::enum_text(d)?;
                let ::std::result::Result::Ok(v) = text.parse::<Self>();
                ::std::result::Result::Ok(v)
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use open_enum;

/// The text of an enum value; numbers and booleans are accepted as their text.
pub fn enum_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

/// An int64 sent as a number or as a string (some APIs quote ids).
pub fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_i64()
            // `1e3` is an int64; `1e30` is not (and must not saturate to i64::MAX).
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not an int64"))),
        serde_json::Value::String(s) => {
            s.trim().parse::<i64>().map(Some).map_err(|_| D::Error::custom(format!("{s:?} is not an int64")))
        }
        other => Err(D::Error::custom(format!("expected an int64, got {other}"))),
    }
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
