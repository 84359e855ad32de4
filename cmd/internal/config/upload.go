package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// deriveUploadURL sets UploadURL, when it is not configured, to the HTTPS
// listener at the XMPP domain, https://DOMAIN:PORT, or without one to the
// HTTP listener, http://DOMAIN:PORT. Behind a TLS-terminating proxy set
// upload-url to the URL the proxy serves. With both listeners disabled
// and no upload-url, uploads are off (UploadURL stays empty).
func (c *Config) deriveUploadURL() error {
	if c.UploadURL != "" {
		u, err := url.Parse(c.UploadURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("config: upload-url %q: want an http or https URL such as https://chat.example.org", c.UploadURL)
		}
		c.UploadURL = strings.TrimRight(c.UploadURL, "/")
		return nil
	}
	scheme, addr, key, standard := "https", c.HTTPS, "https", "443"
	if addr == "" {
		scheme, addr, key, standard = "http", c.HTTP, "http", "80"
	}
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("config: %s %q: %w", key, addr, err)
	}
	c.UploadURL = scheme + "://" + net.JoinHostPort(c.Domain, port)
	if port == standard {
		c.UploadURL = scheme + "://" + c.Domain
	}
	return nil
}
