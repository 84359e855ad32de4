package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// deriveUploadURL sets UploadURL, when it is not configured, to the HTTP
// listener at the XMPP domain: http://DOMAIN:PORT. The listener speaks
// plain HTTP; behind a TLS-terminating proxy set upload-url to the URL the
// proxy serves. With the HTTP listener disabled and no upload-url, uploads
// are off (UploadURL stays empty).
func (c *Config) deriveUploadURL() error {
	if c.UploadURL != "" {
		u, err := url.Parse(c.UploadURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("config: upload-url %q: want an http or https URL such as https://chat.example.org", c.UploadURL)
		}
		c.UploadURL = strings.TrimRight(c.UploadURL, "/")
		return nil
	}
	if c.HTTP == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(c.HTTP)
	if err != nil {
		return fmt.Errorf("config: http %q: %w", c.HTTP, err)
	}
	c.UploadURL = "http://" + net.JoinHostPort(c.Domain, port)
	if port == "80" {
		c.UploadURL = "http://" + c.Domain
	}
	return nil
}
