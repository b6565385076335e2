package store_test

import (
	"fmt"
	"reflect"
	"strconv"
	"time"
)

func newScanTarget(t reflect.Type) any { return reflect.New(t).Interface() }

// format renders a scanned value: dates as YYYY-MM-DD, floats shortest.
func format(v any) string {
	e := reflect.ValueOf(v).Elem()
	if e.Kind() == reflect.Pointer {
		if e.IsNil() {
			return "NULL"
		}
		e = e.Elem()
	}
	switch x := e.Interface().(type) {
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.Format(time.DateTime)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'f', -1, 32)
	default:
		return fmt.Sprint(x)
	}
}
