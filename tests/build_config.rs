//! The image configuration: CMD, ENTRYPOINT, EXPOSE, LABEL, HEALTHCHECK,
//! VOLUME, STOPSIGNAL, USER, history and diffIDs, read from the config blob.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Env, build_image};
use serde_json::json;
use sha2::{Digest as _, Sha256};

#[test]
fn config_instructions_reach_the_config_blob() {
    let env = Env::new();
    let ctx = common::dockerfile_context(
        &env,
        "ctx",
        "FROM busybox
LABEL org.example.name=app \"with space\"=\"a b\"
EXPOSE 8000 53/udp
ENV A=1 B=\"two words\"
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD wget -q -O- http://localhost/ || exit 1
USER app
WORKDIR /home/app
ENTRYPOINT [\"/bin/sh\", \"-c\"]
CMD [\"echo hello\"]
",
        &[],
    );
    env.build(&ctx, &["-t", "cfg", "--label", "from.cli=yes"])
        .ok();
    let image = env.image("cfg");
    let config = image.runtime_config();
    assert_eq!(
        config["Labels"],
        json!({"org.example.name": "app", "with space": "a b", "from.cli": "yes"})
    );
    assert_eq!(
        config["ExposedPorts"],
        json!({"8000/tcp": {}, "53/udp": {}})
    );
    let env_list = config["Env"].as_array().expect("Env");
    assert!(env_list.contains(&json!("A=1")), "{env_list:?}");
    assert!(env_list.contains(&json!("B=two words")), "{env_list:?}");
    assert!(
        env_list
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.starts_with("PATH="))),
        "the base's PATH is kept: {env_list:?}"
    );
    assert_eq!(config["Volumes"], json!({"/data": {}}));
    assert_eq!(config["StopSignal"], "SIGTERM");
    assert_eq!(
        config["Healthcheck"],
        json!({
            "Test": ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"],
            "Interval": 30_000_000_000u64,
            "Timeout": 3_000_000_000u64,
            "Retries": 3
        })
    );
    assert_eq!(config["User"], "app");
    assert_eq!(config["WorkingDir"], "/home/app");
    assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(config["Cmd"], json!(["echo hello"]));
    // BuildKit marks every CMD's arguments as escaped.
    assert_eq!(config["ArgsEscaped"], true);
    assert_eq!(image.config["os"], "linux");
    assert!(image.config["architecture"].is_string());
}

#[test]
fn shell_form_entrypoint_is_wrapped_and_resets_the_inherited_cmd() {
    let env = Env::new();
    let image = build_image(&env, "FROM busybox\nENTRYPOINT exec echo hi\n", &[], "ep");
    let config = image.runtime_config();
    assert_eq!(
        config["Entrypoint"],
        json!(["/bin/sh", "-c", "exec echo hi"])
    );
    assert!(
        config["Cmd"].is_null(),
        "busybox's CMD [\"sh\"] must not survive a new ENTRYPOINT: {config:#}"
    );
    let image = build_image(&env, "FROM busybox\nCMD echo hi\n", &[], "cmd");
    assert_eq!(
        image.runtime_config()["Cmd"],
        json!(["/bin/sh", "-c", "echo hi"])
    );
    // An inherited CMD stays when the stage sets none.
    let image = build_image(&env, "FROM busybox\nENV X=1\n", &[], "inherit");
    assert_eq!(image.runtime_config()["Cmd"], json!(["sh"]));
}

#[test]
fn history_and_diff_ids_describe_the_layers() {
    let env = Env::new();
    let image = build_image(
        &env,
        "FROM busybox
ENV X=1
RUN echo one > /one
COPY --from=busybox /bin/busybox /copied
EXPOSE 80
",
        &[],
        "hist",
    );
    let diff_ids: Vec<String> = image.config["rootfs"]["diff_ids"]
        .as_array()
        .expect("diff_ids")
        .iter()
        .map(|d| d.as_str().expect("string").to_string())
        .collect();
    let tars = image.layer_tars();
    assert_eq!(diff_ids.len(), tars.len());
    for (tar, diff_id) in tars.iter().zip(&diff_ids) {
        assert_eq!(
            format!("sha256:{}", hex::encode(Sha256::digest(tar))),
            *diff_id
        );
    }
    // Layer blobs match their digests and sizes.
    for (layer, path) in image.manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .zip(&image.layer_paths)
    {
        let bytes = std::fs::read(path).expect("blob");
        assert_eq!(layer["size"], bytes.len());
        assert_eq!(
            layer["digest"],
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }
    let history = image.config["history"].as_array().expect("history");
    let non_empty = history
        .iter()
        .filter(|h| h["empty_layer"] != json!(true))
        .count();
    assert_eq!(non_empty, diff_ids.len(), "{history:#?}");
    let created_by: Vec<&str> = history
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or(""))
        .collect();
    let tail = &created_by[created_by.len() - 4..];
    assert!(tail[0].contains("ENV X=1"), "{tail:?}");
    assert!(tail[1].contains("echo one > /one"), "{tail:?}");
    assert!(tail[2].contains("COPY"), "{tail:?}");
    assert!(tail[3].contains("EXPOSE"), "{tail:?}");
    let last_four = &history[history.len() - 4..];
    assert_eq!(last_four[0]["empty_layer"], json!(true));
    assert_ne!(last_four[1]["empty_layer"], json!(true));
    assert_ne!(last_four[2]["empty_layer"], json!(true));
    assert_eq!(last_four[3]["empty_layer"], json!(true));
}
