package config

import "testing"

func TestUploadURL(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "https://localhost:5281"},
		{[]string{"--domain", "chat.example.org", "--https", ":443"}, "https://chat.example.org"},
		{[]string{"--domain", "chat.example.org", "--https", "", "--https", "", "--http", "127.0.0.1:8080"}, "http://chat.example.org:8080"},
		{[]string{"--domain", "chat.example.org", "--https", "", "--https", "", "--http", ":80"}, "http://chat.example.org"},
		{[]string{"--https", "", "--https", "", "--http", ""}, ""},
		{[]string{"--upload-url", "https://files.example.org/"}, "https://files.example.org"},
	} {
		c, err := load(t, tc.args...)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if c.UploadURL != tc.want {
			t.Errorf("%v: upload-url %q, want %q", tc.args, c.UploadURL, tc.want)
		}
	}
	for _, bad := range []string{"ftp://x", "example.org", "https://x/?a=b"} {
		if _, err := load(t, "--upload-url", bad); err == nil {
			t.Errorf("--upload-url %s accepted", bad)
		}
	}
}
