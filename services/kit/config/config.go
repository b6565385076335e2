// Package config loads a process's configuration: one YAML file decoded
// strictly (unknown keys are errors), then ORBITFLOW_* environment variables,
// then flags (the caller applies those). Validation is the caller's: each
// component validates its own section and the caller joins the errors.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DecodeYAML decodes data into out strictly: an unknown key is an error that
// names its line. Fields absent from data keep the values out already has,
// so decode into a default config.
func DecodeYAML(data []byte, out any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty file
		}
		return err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("config: more than one YAML document; use one")
	}
	return nil
}

// LoadFile reads and strictly decodes path into out.
func LoadFile(path string, out any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := DecodeYAML(data, out); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// EnvName returns the variable that sets the field at yaml path p
// (e.g. "clickhouse.embedded.listen" -> ORBITFLOW_CLICKHOUSE_EMBEDDED_LISTEN).
func EnvName(prefix, path string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// ApplyEnv sets fields of out (a pointer to a struct with yaml tags) from
// environment variables named by EnvName(prefix, yaml path). Lists are
// comma-separated; durations use Go syntax (1s, 5m). lookup is os.LookupEnv
// in production. Every malformed value is reported.
func ApplyEnv(prefix string, out any, lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return errors.New("config: ApplyEnv needs a pointer to a struct")
	}
	var errs []error
	walk(v.Elem(), "", func(path string, f reflect.Value) {
		name := EnvName(prefix, path)
		s, ok := lookup(name)
		if !ok {
			return
		}
		if err := setScalar(f, s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	})
	return errors.Join(errs...)
}

// Paths lists every settable yaml path of a struct, for documentation.
func Paths(cfg any) []string {
	var out []string
	walk(reflect.ValueOf(cfg), "", func(path string, _ reflect.Value) { out = append(out, path) })
	return out
}

func walk(v reflect.Value, prefix string, fn func(string, reflect.Value)) {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !sf.IsExported() {
			continue
		}
		path := tag
		if prefix != "" {
			path = prefix + "." + tag
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(time.Time{}) {
			walk(f, path, fn)
			continue
		}
		fn(path, f)
	}
}

func setScalar(f reflect.Value, s string) error {
	if f.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("want a duration such as 1s or 5m, got %q", s)
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		f.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		f.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		f.SetFloat(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("lists of %s cannot be set from the environment", f.Type().Elem())
		}
		var items []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				items = append(items, p)
			}
		}
		f.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("a %s cannot be set from the environment", f.Type())
	}
	return nil
}
