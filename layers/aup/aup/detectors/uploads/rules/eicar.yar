// The EICAR anti-malware test file (https://www.eicar.org/download-anti-malware-testfile/).
// Matched anywhere in a window, so it is found inside stored zip members and concatenated files too.
rule EICAR_Test_File
{
    meta:
        description = "EICAR anti-malware test file"
        severity = "critical"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar
}
