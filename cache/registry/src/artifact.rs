//! Single manifests and blobs, for callers that move artifacts rather
//! than images (cache export and import): fetch a manifest as bytes, ask
//! whether a blob is there, fetch one blob into the store.

use crate::client::{Req, Scope, error_text};
use crate::progress::no_progress;
use crate::{Client, Reference, RegistryError};
use strata_store::{Descriptor, Digest, Store};

impl Client {
    /// GETs the manifest `r` names: its bytes, media type (an image
    /// manifest or an index) and digest, checked against the digest asked
    /// for or the one the registry announced.
    pub fn get_manifest(&self, r: &Reference) -> Result<(Vec<u8>, String, Digest), RegistryError> {
        self.fetch_manifest(r, r.manifest_reference())
    }

    /// Whether the repository of `r` holds the blob (`HEAD`).
    pub fn blob_exists(&self, r: &Reference, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.url(r, &format!("blobs/{digest}"))?;
        let resp = self.execute(
            r,
            &Scope::pull(r.repository()),
            &Req::new("HEAD", url.clone()),
        )?;
        match resp.status().as_u16() {
            200 => {
                self.remember_blob(r, digest);
                Ok(true)
            }
            404 => Ok(false),
            status => Err(RegistryError::Status {
                method: "HEAD",
                url,
                status,
                message: error_text(resp),
            }),
        }
    }

    /// Downloads one blob of `r`'s repository into the store, streamed and
    /// verified by digest and size (nothing is left behind on failure).
    /// A blob the store has is not fetched again.
    pub fn fetch_blob_into(
        &self,
        store: &Store,
        r: &Reference,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        if store.claim_blob(&desc.digest) {
            return Ok(());
        }
        self.fetch_blob(store, r, desc, &no_progress)?;
        self.remember_blob(r, &desc.digest);
        Ok(())
    }
}
