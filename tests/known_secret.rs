//! `--known-secret-sha256`: CI names its real key by hash only; stowaway finds
//! that exact key in every form and layer, or says it searched and found none.

mod common;

use base64::Engine;
use common::*;
use serde_json::Value;

fn der() -> Vec<u8> {
    let body: String = API_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn audit(img: Image, hashes: &[String]) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("img.tar");
    write_docker_classic(&[img], &tar);
    let mut args = vec![
        "audit".to_string(),
        tar.display().to_string(),
        "--no-policy".into(),
    ];
    for h in hashes {
        args.push("--known-secret-sha256".into());
        args.push(h.clone());
    }
    let (_, text, _) = stowaway(&args);
    args.extend(["--format".into(), "json".into()]);
    let (code, out, err) = stowaway(&args);
    assert!(code < 2, "{err}");
    (code, serde_json::from_str(&out).unwrap(), text)
}

#[test]
fn the_real_key_is_found_as_pem_der_base64_and_hex_in_different_layers() {
    let der = der();
    let b64_pem = base64::engine::general_purpose::STANDARD.encode(API_KEY_PEM);
    let img = Image::new()
        .with_layer(Layer::new(vec![Entry::file(
            "opt/keys/payment.pem",
            API_KEY_PEM,
        )]))
        .with_layer(Layer::new(vec![Entry::file(
            "opt/keys/payment.der",
            der.clone(),
        )]))
        .with_layer(Layer::new(vec![Entry::whiteout("opt/keys/payment.der")]))
        .with_layer(Layer::new(vec![Entry::file(
            "etc/app.conf",
            format!("key_hex={}\n", hex::encode(&der)),
        )]))
        .with_env(format!("PAYMENT_KEY_B64={b64_pem}"));
    let (code, r, text) = audit(img, &[sha256_hex(&der)]);
    assert_eq!(code, 1);
    let img = &r["images"][0];
    let mut found: Vec<String> = img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "known-secret")
        .map(|f| {
            format!(
                "{} {} {}",
                f["layer"],
                f["path"].as_str().or(f["config_key"].as_str()).unwrap(),
                f["message"]
                    .as_str()
                    .unwrap()
                    .split(" found as ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "0 /opt/keys/payment.pem der",
            "1 /opt/keys/payment.der file",
            "3 /etc/app.conf hex",
            "null PAYMENT_KEY_B64 der",
        ]
    );
    assert_eq!(img["known_secrets"][0]["found"], 4);
    assert!(text.contains("FOUND"), "{text}");
    // The hash of the PEM file itself finds the file and its encodings.
    let (_, r, _) = audit(
        Image::new()
            .with_layer(Layer::new(vec![Entry::file("k.pem", API_KEY_PEM)]))
            .with_env(format!("K={b64_pem}")),
        &[sha256_hex(API_KEY_PEM.as_bytes())],
    );
    // (the file, whole; and the base64 of it in ENV)
    assert_eq!(r["images"][0]["known_secrets"][0]["found"], 2, "{r}");
}

#[test]
fn a_clean_image_says_searched_and_not_found() {
    let (code, r, text) = audit(clean_image(), &[sha256_hex(&der())]);
    assert_eq!(code, 0);
    let k = &r["images"][0]["known_secrets"][0];
    assert_eq!(k["found"], 0);
    assert!(k["message"]
        .as_str()
        .unwrap()
        .ends_with("searched, found nowhere"));
    assert!(k["searched"].as_str().unwrap().contains("2 layer(s)"));
    assert!(text.contains("ABSENT"), "{text}");
    let (code, _, err) = stowaway([
        "audit",
        "testdata/demo-clean.tar",
        "--known-secret-sha256",
        "xyz",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not hex"), "{err}");
}
