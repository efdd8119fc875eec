//! Setters for configuration structs whose fields are public and which grow: a config is built
//! from its default, one chained call per option that differs.

/// Defines one setter per option, named like the field it sets.
macro_rules! setters {
    ($config:ident { $($field:ident: $ty:ty,)* }) => {
        impl $config {
            $(
                #[doc = concat!("Sets [`", stringify!($config), "::", stringify!($field), "`].")]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = value.into();
                    self
                }
            )*
        }
    };
}
