//! A C-ABI WebAssembly surface over [`xmargin_client::snapshot::picture_json`]: the host copies a
//! snapshot's JSON into memory from `xm_alloc`, calls `xm_picture`, reads the answer (pointer in
//! the high 32 bits, length in the low 32) and releases both buffers with `xm_free`. The answer
//! is `{"ok": picture}` or `{"error": "message"}`; nothing here panics on bad input.
use xmargin_client::snapshot::picture_json;

/// The answer for a snapshot given as JSON text.
pub fn answer(input: &[u8]) -> String {
    let result = core::str::from_utf8(input)
        .map_err(|_| "the snapshot is not UTF-8".to_string())
        .and_then(|text| picture_json(text).map_err(|e| e.to_string()));
    match result {
        Ok(picture) => format!("{{\"ok\":{picture}}}"),
        Err(message) => serde_json::json!({ "error": message }).to_string(),
    }
}

/// A buffer of `len` bytes the host may write into; released with `xm_free(ptr, len)`.
#[no_mangle]
pub extern "C" fn xm_alloc(len: usize) -> *mut u8 {
    let mut buffer = vec![0u8; len].into_boxed_slice();
    let ptr = buffer.as_mut_ptr();
    core::mem::forget(buffer);
    ptr
}

/// Releases a buffer from `xm_alloc` or an answer from `xm_picture`.
///
/// # Safety
/// `ptr` and `len` must be exactly what `xm_alloc` returned / was given, or an answer's pointer
/// and length, and released once.
#[no_mangle]
pub unsafe extern "C" fn xm_free(ptr: *mut u8, len: usize) {
    if !ptr.is_null() {
        drop(Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr, len)));
    }
}

/// The picture of the snapshot in `ptr[..len]`, as `(answer pointer << 32) | answer length`.
///
/// # Safety
/// `ptr[..len]` must be readable (a buffer from `xm_alloc`).
#[no_mangle]
pub unsafe extern "C" fn xm_picture(ptr: *const u8, len: usize) -> u64 {
    let input = core::slice::from_raw_parts(ptr, len);
    let answer = answer(input).into_bytes().into_boxed_slice();
    let (out, out_len) = (answer.as_ptr() as u64, answer.len() as u64);
    core::mem::forget(answer);
    (out << 32) | out_len
}
