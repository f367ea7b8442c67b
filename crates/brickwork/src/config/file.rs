//! Reading profiles from `~/.databrickscfg` (INI), as the official SDKs do.
//!
//! Unlike Python's `configparser` defaults, a profile does not inherit keys
//! from `[DEFAULT]`: the official SDKs deliberately read sections on their own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use crate::error::{Error, Result};

/// Section that holds file-wide settings, never a profile.
const SETTINGS_SECTION: &str = "__settings__";
const DEFAULT_PROFILE: &str = "DEFAULT";

/// A parsed config file: profile name -> lower-cased key -> value.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    pub(crate) path: PathBuf,
    profiles: BTreeMap<String, BTreeMap<String, String>>,
    default_profile_setting: Option<String>,
}

/// Which profile to load, and whether it was asked for or only a fallback.
pub(crate) struct ProfileChoice {
    pub(crate) name: String,
    pub(crate) explicit: bool,
}

impl ConfigFile {
    /// Read and parse `path`; `Ok(None)` when the file does not exist.
    pub(crate) fn load(path: &Path) -> Result<Option<ConfigFile>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::config(format!("cannot read config file {}: {e}", path.display())).with_source(e))
            }
        };
        Self::parse(path, &text).map(Some)
    }

    pub(crate) fn parse(path: &Path, text: &str) -> Result<ConfigFile> {
        // Tokens and secrets may contain backslashes and quotes: keep them verbatim.
        let options = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            ..ParseOption::default()
        };
        // A comment line is a comment however it is indented (Python's
        // configparser); rust-ini would read an indented one as the rest of
        // the previous value and lose the next key.
        let text: String = text
            .lines()
            .map(|line| if matches!(line.trim_start().chars().next(), Some('#' | ';')) { "" } else { line })
            .collect::<Vec<_>>()
            .join("\n");
        let ini = Ini::load_from_str_opt(&text, options)
            .map_err(|e| Error::config(format!("cannot parse config file {}: {e}", path.display())))?;
        let mut profiles = BTreeMap::new();
        for (section, props) in ini.iter() {
            let Some(section) = section else {
                if props.iter().next().is_some() {
                    return Err(Error::config(format!(
                        "cannot parse config file {}: settings appear before the first [profile] header",
                        path.display()
                    )));
                }
                continue;
            };
            let entry: &mut BTreeMap<String, String> = profiles.entry(section.trim().to_string()).or_default();
            for (key, value) in props.iter() {
                entry.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let default_profile_setting =
            profiles.remove(SETTINGS_SECTION).and_then(|s| s.get("default_profile").cloned()).filter(|p| !p.is_empty());
        Ok(ConfigFile { path: path.to_path_buf(), profiles, default_profile_setting })
    }

    /// The requested profile, else `[__settings__] default_profile`, else a
    /// non-empty `[DEFAULT]` as a fallback.
    pub(crate) fn choose(&self, requested: Option<&str>) -> Result<Option<ProfileChoice>> {
        let explicit = requested.map(str::to_string).or_else(|| self.default_profile_setting.clone());
        if let Some(name) = explicit {
            if name == SETTINGS_SECTION {
                return Err(Error::config(format!(
                    "{SETTINGS_SECTION} is a reserved section name and cannot be used as a profile"
                )));
            }
            return Ok(Some(ProfileChoice { name, explicit: true }));
        }
        let has_default = self.profiles.get(DEFAULT_PROFILE).is_some_and(|p| !p.is_empty());
        Ok(has_default.then(|| ProfileChoice { name: DEFAULT_PROFILE.to_string(), explicit: false }))
    }

    /// How many profiles the file has.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn profile_count(&self) -> usize {
        self.profiles.len()
    }

    /// The profiles' names, in file order of their sorted keys.
    pub(crate) fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// Key/value pairs of `profile`, if the file has it.
    pub(crate) fn profile(&self, profile: &str) -> Option<&BTreeMap<String, String>> {
        self.profiles.get(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ConfigFile {
        match ConfigFile::parse(Path::new("/cfg"), text) {
            Ok(f) => f,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    #[test]
    fn reads_sections_lowercases_keys_and_keeps_secrets_verbatim() {
        let f = parse(
            "; comment\n[DEFAULT]\nHOST = https://a\n\n[dev]\nhost: https://b\ntoken = dapi\\x\"q\"#notacomment\n",
        );
        assert_eq!(f.profile("DEFAULT").and_then(|p| p.get("host")).map(String::as_str), Some("https://a"));
        assert_eq!(f.profile("dev").and_then(|p| p.get("host")).map(String::as_str), Some("https://b"));
        assert_eq!(f.profile("dev").and_then(|p| p.get("token")).map(String::as_str), Some("dapi\\x\"q\"#notacomment"));
        // No inheritance from DEFAULT.
        assert!(f.profile("dev").is_some_and(|p| !p.contains_key("HOST") && p.len() == 2));
    }

    #[test]
    fn profile_choice_follows_official_order() {
        let f = parse("[__settings__]\ndefault_profile = dev\n[DEFAULT]\nhost = a\n[dev]\nhost = b\n");
        let c = f.choose(None).ok().flatten();
        assert!(c.as_ref().is_some_and(|c| c.name == "dev" && c.explicit));
        let f = parse("[DEFAULT]\nhost = a\n");
        let c = f.choose(None).ok().flatten();
        assert!(c.is_some_and(|c| c.name == "DEFAULT" && !c.explicit));
        let f = parse("[other]\nhost = a\n");
        assert!(f.choose(None).ok().flatten().is_none());
        assert!(f.choose(Some("__settings__")).is_err());
    }

    #[test]
    fn keys_before_any_section_are_an_error() {
        let err = ConfigFile::parse(Path::new("/cfg"), "host = x\n[a]\n").err();
        assert!(err.is_some_and(|e| e.message().contains("before the first [profile]")));
    }
}
