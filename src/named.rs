//! Enums whose variants have fixed names, shared by the command line, config files, JSON results
//! and messages: the [`Named`] trait and the `named_enum!` macro that declares one.

/// A fieldless enum whose variants have fixed names, shared by the command line, config
/// files, JSON results and messages.
pub trait Named: Sized + Copy + 'static {
    /// What a value names, for messages: "backend", "study", …
    const WHAT: &'static str;
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;

    /// The value called `name`, or a message listing the valid names.
    fn from_name(name: &str) -> Result<Self, String> {
        Self::all()
            .iter()
            .copied()
            .find(|v| v.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::all().iter().map(|v| v.name()).collect();
                format!(
                    "unknown {} '{name}', expected one of {}",
                    Self::WHAT,
                    names.join(", ")
                )
            })
    }
}

/// Declares a [`Named`] enum: `ALL`, `name()`, `Display`, `FromStr` and serde all use the
/// names given here, so a value reads the same on the command line, in JSON and in messages.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: [Self; [$($text),+].len()] = [$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $crate::Named for $name {
            const WHAT: &'static str = $what;
            fn all() -> &'static [Self] {
                &Self::ALL
            }
            fn name(self) -> &'static str {
                $name::name(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                // `pad`, not `write_str`, so `{:<8}` lines up columns.
                f.pad(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                <Self as $crate::Named>::from_name(s)
            }
        }
    };
}
