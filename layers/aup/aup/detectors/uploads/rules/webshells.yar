// Common web shell idioms: a server-side script that evaluates what the request or a blob hands it.
rule PHP_Webshell_Eval_Request
{
    meta:
        description = "PHP evaluating request input or a decoded blob"
        severity = "critical"
    strings:
        $php = "<?php" nocase
        $e1 = /eval\s*\(\s*\$_(POST|GET|REQUEST|COOKIE)/ nocase
        $e2 = /eval\s*\(\s*(base64_decode|gzinflate|str_rot13)\s*\(/ nocase
        $e3 = /(system|passthru|shell_exec|exec)\s*\(\s*\$_(POST|GET|REQUEST)/ nocase
    condition:
        $php and any of ($e*)
}

rule JSP_Webshell_Runtime_Exec
{
    meta:
        description = "JSP running request input as a command"
        severity = "critical"
    strings:
        $a = /Runtime\.getRuntime\(\)\.exec\(\s*request\.getParameter/
    condition:
        $a
}
