package stacks

import "testing"

func TestLooksSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"DB_PASSWORD": true, "passwd": true, "githubToken": true, "API_KEY": true, "apikey": true, "api-key": true,
		"private_key": true, "PrivateKey": true, "awsCredentials": true, "clientSecret": true,
		"LOG_LEVEL": false, "phoenix:replicas": false, "keyName": false,
	} {
		if got := LooksSecret(name); got != want {
			t.Errorf("LooksSecret(%q) = %v, want %v", name, got, want)
		}
	}
}
