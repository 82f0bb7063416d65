//! `ArkoudaRequest` / `ArkoudaResponse`.
