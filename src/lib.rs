pub mod napi;
