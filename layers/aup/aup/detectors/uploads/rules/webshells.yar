// Common web shell idioms: a server-side script that runs what the request hands it.
// Strings are case-sensitive and start with literals (YARA's atoms): scanning every upload stays as
// fast as with two plain strings. PHP function names are matched in lower case, as shells write them.
// meta confidence below the I3 bar (0.9) sends the object to review instead of the ladder: used where
// honest (if vulnerable) applications share the idiom.
rule PHP_Webshell_Exec_Request
{
    meta:
        description = "PHP evaluating or executing request input (eval/assert/system/... on $_GET/$_POST)"
        severity = "critical"
    strings:
        $php = "<?"
        $e1 = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open|pcntl_exec|create_function)\s*\(\s*@?\s*(\(\s*string\s*\)\s*)?((stripslashes|base64_decode|str_rot13|gzinflate|urldecode)\s*\(\s*)*\$_(POST|GET|REQUEST|COOKIE|SERVER|FILES)\b/
        $e2 = /eval\s*\(\s*(base64_decode|gzinflate|gzuncompress|str_rot13)\s*\(/
        $e3 = /\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*\(\s*\$_(GET|POST|REQUEST|COOKIE)/
        $e4 = /preg_replace\s*\(\s*["'].{1,80}\/e["']\s*,\s*\$_(GET|POST|REQUEST|COOKIE)/
        $e5 = /`[^`\n]{0,40}\$_(GET|POST|REQUEST|COOKIE)\s*\[[^`\n]{0,60}`/
    condition:
        $php and any of ($e*)
}

rule PHP_Include_Request_Input
{
    meta:
        description = "PHP including a file named by request input (a web shell loader, or a vulnerable page)"
        severity = "high"
        confidence = "0.7"
    strings:
        $php = "<?"
        $i = /(include|require)(_once)?\s*\(?\s*@?\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[/
    condition:
        $php and $i
}

rule ASP_Webshell_Eval_Request
{
    meta:
        description = "ASP/ASP.NET evaluating or executing request input"
        severity = "critical"
    strings:
        $a1 = /(eval|execute|executeglobal|Eval|Execute|ExecuteGlobal|EVAL|EXECUTE)\s*\(?\s*[Rr]equest\s*(\.[Ff]orm|\.[Qq]uery[Ss]tring|\.[Ii]tem)?\s*[\(\[]/
        $a2 = /Process\.Start\s*\(\s*Request\s*[\[\.]/
    condition:
        any of them
}

rule JSP_Webshell_Runtime_Exec
{
    meta:
        description = "JSP running request input as a command"
        severity = "critical"
    strings:
        $a = /Runtime\.getRuntime\(\)\.exec\(\s*request\.getParameter/
        $b = /new\s+ProcessBuilder\s*\(\s*request\.getParameter/
    condition:
        any of them
}
