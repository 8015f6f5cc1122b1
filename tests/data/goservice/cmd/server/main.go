// The seeds' Go service: a health endpoint on :8080. apiKey is set at link
// time in the leaky test builds (-ldflags -X main.apiKey=...).
package main

import (
	"fmt"
	"log"
	"net/http"
)

var apiKey = ""

func main() {
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	log.Printf("payment service on :8080 (api key configured: %v)", apiKey != "")
	log.Fatal(http.ListenAndServe(":8080", nil))
}
